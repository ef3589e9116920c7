import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { jobDir, writeJobInput } from '../helpers/jobs.js';
import { CLI, spawnCli } from '../helpers/processes.js';
import { startDevServer, cliEnvFor, runTestWorker, testWorkerConfig } from '../helpers/temporal.js';

// Hints name the command as it was run (`node dist/client/cli.js` here); these tests check the words after it.
process.env.CLAUDE_BATCH_COMMAND = 'claude-batch';

/** Runs the real binary on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function runOnTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', `stty rows 40 cols 160; ${quoted}`, '/dev/null'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, screen })));
}

describe('claude-batch run at a terminal, and Ctrl-C', () => {
  let env: TestWorkflowEnvironment;
  let emulator: EmulatorHarness;
  let worker: { stop(): Promise<void> } | undefined;
  let cliEnv: NodeJS.ProcessEnv;
  const dir = jobDir();

  before(async () => {
    env = await startDevServer();
    emulator = await startTestEmulator();
    const config = testWorkerConfig(emulator.url, { allowedRoots: [dir] });
    worker = await runTestWorker(env, config);
    cliEnv = cliEnvFor(env, config.taskQueue);
  });

  after(async () => {
    await worker?.stop();
    await env?.teardown();
    await emulator?.close();
  });

  it('draws a live frame with progress bars per batch, then the summary', async () => {
    const input = writeJobInput(dir, 60, 'tty');
    const out = path.join(dir, 'tty-out.jsonl');
    const { code, screen } = await runOnTerminal(
      ['run', input, '--out', out, '--chunk-size', '25', '--poll-initial', '1s', '--poll-max', '1s'],
      cliEnv,
    );
    assert.equal(code, 0, screen);
    assert.ok(screen.includes('\u001b['), 'the terminal gets cursor control sequences (the frame is redrawn in place)');
    assert.match(screen, /█{40}\s+60\/60 answered \(first round\)/, 'a full job bar at the end');
    for (const chunk of ['r0-c0001', 'r0-c0002', 'r0-c0003'])
      assert.match(
        screen,
        new RegExp(`${chunk}\\s+msgbatch_\\w+\\s+█{20}\\s+\\d+/\\d+\\s+done`),
        `${chunk} drawn done`,
      );
    assert.match(screen, /completed: 60 result lines, one per request/);
    assert.doesNotMatch(screen, /^\[\s*\d+s\] /m, 'no plain log lines on a terminal');
  });

  it('Ctrl-C detaches: the job keeps running and the command says how to reattach', async () => {
    // An hour of modelled processing on a real-time clock: the batch is still in progress when we detach.
    await emulator.admin('PUT', '/_emulator/processing', {
      baseLatencyMs: 3_600_000,
      perRequestMs: 1,
      spread: 0,
      cancelLatencyMs: 100,
    });
    const input = writeJobInput(dir, 10, 'detach');
    const run = spawnCli(
      [
        'run',
        input,
        '--out',
        path.join(dir, 'detach-out.jsonl'),
        '--job-id',
        'detach-1',
        '--poll-initial',
        '1s',
        '--poll-max',
        '1s',
      ],
      cliEnv,
    );
    await run.waitFor(/r0-c0001 msgbatch_\w+ in progress/, 60_000);
    const code = await run.kill('SIGINT');
    assert.equal(code, 130, run.output());
    assert.match(run.output(), /detached; job detach-1 keeps running\./);
    assert.match(run.output(), /reattach: claude-batch watch detach-1/);
    const handle = env.client.workflow.getHandle('detach-1');
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'the job was not canceled by Ctrl-C');
    await handle.cancel();
    await assert.rejects(handle.result());
    await emulator.admin('PUT', '/_emulator/processing', { baseLatencyMs: 1000, perRequestMs: 1, spread: 0 });
  });
});
