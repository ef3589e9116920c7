import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../client/ports.js';
import { runCli, spawnCli } from '../helpers/processes.js';
import { shortRequest } from '../helpers/jobs.js';

// Hints name the command as it was run (`node dist/client/cli.js` here); these tests check the words after it.
process.env.CLAUDE_BATCH_COMMAND = 'claude-batch';

describe('claude-batch dev, worker and doctor', () => {
  it('dev starts the dev server with its UI, the emulator and a worker; doctor sees them; Ctrl-C stops it all', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-dev-'));
    const [temporalPort, uiPort, emulatorPort] = [await freePort(), await freePort(), await freePort()];
    const dev = spawnCli(
      [
        'dev',
        '--data-dir',
        dir,
        '--temporal-port',
        String(temporalPort),
        '--ui-port',
        String(uiPort),
        '--emulator-port',
        String(emulatorPort),
        '--time-scale',
        '3600',
      ],
      { CLAUDE_BATCH_ALLOWED_ROOTS: dir, ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' },
    );
    try {
      await dev.waitFor(/Press Ctrl-C to stop/, 120_000);
      const out = dev.output();
      assert.match(out, new RegExp(`Temporal server\\s+127\\.0\\.0\\.1:${temporalPort}`));
      assert.match(out, new RegExp(`Temporal web UI\\s+http://127\\.0\\.0\\.1:${uiPort}`));
      assert.match(out, new RegExp(`Anthropic API\\s+http://127\\.0\\.0\\.1:${emulatorPort}\\s+\\(emulator`));
      assert.equal((await fetch(`http://127.0.0.1:${uiPort}/`)).status, 200, 'the web UI answers');

      // Doctor checks the stack as its user has it: no API key (the dev worker needs none), the dev emulator.
      const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
      const doctor = await runCli(['doctor', '--emulator-url', emulatorUrl], {
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
        CLAUDE_BATCH_TASK_QUEUE: '',
        ANTHROPIC_API_KEY: '',
        ANTHROPIC_BASE_URL: '',
      });
      assert.equal(doctor.code, 0, doctor.output);
      assert.match(doctor.output, /ok\s+Temporal CLI \(dev server\)\s+\S+ \(.*temporal version \d/);
      assert.match(doctor.output, /ok\s+Temporal server\s+127\.0\.0\.1:\d+ \(namespace default\): server \d+\.\d+/);
      assert.match(doctor.output, /ok\s+Worker\s+task queue claude-batch: polled by /);
      assert.match(
        doctor.output,
        /ok\s+Anthropic API\s+the dev stack's emulator answers at http:\/\/127\.0\.0\.1:\d+; /,
      );
      // With a key, the endpoint itself is asked (the emulator takes any key).
      const withKey = await runCli(['doctor'], {
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
        CLAUDE_BATCH_TASK_QUEUE: '',
        ANTHROPIC_API_KEY: 'sk-ant-any',
        ANTHROPIC_BASE_URL: emulatorUrl,
      });
      assert.equal(withKey.code, 0, withKey.output);
      assert.match(withKey.output, /ok\s+Anthropic API\s+http:\/\/127\.0\.0\.1:\d+: answers, API key accepted/);

      // A job through the stack, started as the Temporal UI or `temporal workflow start` would: one JSON input.
      const input = path.join(dir, 'in.jsonl');
      writeFileSync(input, [0, 1, 2].map((i) => JSON.stringify(shortRequest(i, 'dev'))).join('\n'));
      const client = new Client({ connection: await Connection.connect({ address: `127.0.0.1:${temporalPort}` }) });
      const result = (await client.workflow.execute('batchJob', {
        taskQueue: 'claude-batch',
        workflowId: 'through-dev',
        args: [{ input, output: path.join(dir, 'out.jsonl'), poll: { initial: '1s', max: '1s' } }],
      })) as { lines: number };
      assert.equal(result.lines, 3);
      await client.connection.close();
    } finally {
      dev.child.kill('SIGINT');
      const code = await dev.exited;
      assert.equal(code, 0, dev.output());
      assert.match(dev.output(), /stopping…\s+stopped\./);
    }
    const probe = await Connection.connect({ address: `127.0.0.1:${temporalPort}`, connectTimeout: '1s' }).then(
      () => 'reachable',
      () => 'gone',
    );
    assert.equal(probe, 'gone', 'the dev server was stopped too');
  });

  it('doctor reports what does not answer, and exits non-zero', async () => {
    const { code, output } = await runCli(['doctor'], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      ANTHROPIC_API_KEY: '',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:1',
    });
    assert.equal(code, 1);
    assert.match(
      output,
      /FAIL\s+Temporal server\s+127\.0\.0\.1:1 \(namespace default\): unreachable .*`claude-batch dev`/,
    );
    assert.match(output, /note\s+Worker\s+task queue \S+: not checked/);
    assert.match(
      output,
      /FAIL\s+Anthropic API\s+ANTHROPIC_API_KEY is not set, and no emulator answers at http:\/\/127\.0\.0\.1:1; /,
    );
    assert.doesNotMatch(output, /\n\s+at /);
  });

  it('worker explains a missing API key and an unreachable server in one line each', async () => {
    const noKey = await runCli(['worker'], { ANTHROPIC_API_KEY: '', TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(noKey.code, 2);
    assert.match(noKey.output, /error: ANTHROPIC_API_KEY is not set/);
    const noServer = await runCli(['worker'], { ANTHROPIC_API_KEY: 'k', TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(noServer.code, 2);
    assert.match(noServer.output, /error: cannot reach the Temporal server at 127\.0\.0\.1:1/);
    assert.match(noServer.output, /hint: start one with `claude-batch dev`/);
    for (const o of [noKey.output, noServer.output]) assert.doesNotMatch(o, /\n\s+at /);
  });
});
