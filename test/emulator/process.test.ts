import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic, { AuthenticationError } from '@anthropic-ai/sdk';
import { collect, requests, TEST_KEY } from '../helpers/emulator.js';
import { runCli, spawnCli } from '../helpers/processes.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'cb-proc-'));

async function startCliEmulator(args: string[]) {
  const p = spawnCli(['emulator', '--port', '0', ...args]);
  const [, url] = await p.waitFor(/listening on (http:\/\/\S+)/);
  return { p, url: url!, client: new Anthropic({ apiKey: TEST_KEY, baseURL: url!, maxRetries: 0 }) };
}

const advance = (url: string, seconds: number) =>
  fetch(`${url}/_emulator/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });

describe('the emulator as a process (claude-batch emulator)', () => {
  it('survives a SIGKILL mid-batch: restarted on the same data dir, the batch finishes with complete results', async () => {
    const dataDir = tempDir();
    const args = ['--data-dir', dataDir, '--base-latency', '10m', '--per-request', '1ms', '--spread', '0'];
    const first = await startCliEmulator(args);
    const created = await first.client.messages.batches.create({ requests: requests(5000, 'rs') });
    await advance(first.url, 300);
    assert.equal((await first.client.messages.batches.retrieve(created.id)).processing_status, 'in_progress');
    await first.p.kill('SIGKILL');

    const second = await startCliEmulator(args);
    try {
      const resumed = await second.client.messages.batches.retrieve(created.id);
      assert.equal(resumed.processing_status, 'in_progress');
      assert.equal(resumed.created_at, created.created_at);
      assert.equal(resumed.request_counts.processing, 5000);
      await advance(second.url, 600);
      const ended = await second.client.messages.batches.retrieve(created.id);
      assert.equal(ended.processing_status, 'ended');
      assert.equal(ended.request_counts.succeeded, 5000);
      const ids = new Set(
        (await collect(await second.client.messages.batches.results(created.id))).map((r) => r.custom_id),
      );
      assert.equal(ids.size, 5000);
      const stats = (await (await fetch(`${second.url}/_emulator/stats`)).json()) as { batches: { created: number } };
      assert.equal(stats.batches.created, 1);
    } finally {
      await second.p.kill();
    }
  });

  it('takes faults from a JSON file and flags, and the accepted API key from --api-key', async () => {
    const dir = tempDir();
    const faultsFile = path.join(dir, 'faults.json');
    writeFileSync(faultsFile, JSON.stringify({ outcomes: { api_error: 1 }, queueLimit: 1000 }));
    const { p, url, client } = await startCliEmulator([
      '--data-dir',
      path.join(dir, 'data'),
      '--faults',
      faultsFile,
      '--error-rate',
      'overloaded_error=0',
      '--api-key',
      TEST_KEY,
      '--base-latency',
      '1s',
    ]);
    try {
      const wrong = new Anthropic({ apiKey: 'nope', baseURL: url, maxRetries: 0 });
      await assert.rejects(wrong.messages.batches.list(), AuthenticationError);
      const faults = (await (await fetch(`${url}/_emulator/faults`)).json()) as {
        outcomes: object;
        queueLimit: number;
      };
      assert.deepEqual(faults.outcomes, { api_error: 1, overloaded_error: 0 });
      assert.equal(faults.queueLimit, 1000);
      const created = await client.messages.batches.create({ requests: requests(3, 'ff') });
      await advance(url, 60);
      const lines = await collect(await client.messages.batches.results(created.id));
      assert.deepEqual(
        lines.map((l) => (l.result.type === 'errored' ? l.result.error.error.type : l.result.type)),
        ['api_error', 'api_error', 'api_error'],
      );
    } finally {
      await p.kill();
    }
  });

  it('explains bad flags and files in one line, without a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['emulator', '--time-scale', '-1'],
        /error: option '--time-scale <n>' argument '-1' is invalid\. expected a number > 0/,
      ],
      [
        ['emulator', '--error-rate', 'bogus=1'],
        /expected TYPE=RATE with TYPE one of overloaded_error, api_error, invalid_request_error/,
      ],
      [
        ['emulator', '--faults', '/nonexistent/faults.json'],
        /error: cannot read the faults file \/nonexistent\/faults\.json/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const { code, output } = await runCli(args);
      assert.notEqual(code, 0, args.join(' '));
      assert.match(output, pattern);
      assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
    }
  });

  it('explains a port that is in use', async () => {
    const { p, url } = await startCliEmulator(['--data-dir', tempDir()]);
    try {
      const port = new URL(url).port;
      const { code, output } = await runCli(['emulator', '--port', port, '--data-dir', tempDir()]);
      assert.equal(code, 2);
      assert.match(output, /EADDRINUSE[\s\S]*hint: another process uses that port/);
      assert.doesNotMatch(output, /\n\s+at /);
    } finally {
      await p.kill();
    }
  });
});
