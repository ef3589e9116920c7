import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../activities/deps.js';
import { activityDeps } from '../../worker/create-worker.js';
import { syncAnswerActivities, type SyncChunkArgs } from '../../activities/sync-answers.js';
import type { ChunkOutcome, ChunkRef } from '../../shared/job-types.js';
import { testWorkerConfig } from '../helpers/temporal.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { shortRequest } from '../helpers/jobs.js';

type Line = { custom_id: string; via?: string; result: { type: string; error?: { error?: { type: string } } } };

/**
 * `answerSynchronously` under MockActivityEnvironment against the real emulator's /v1/messages: each request
 * answered once, whatever the rate limits, overloads, cancels and budgets, and paid for once.
 */
describe('answerSynchronously: the Messages API fallback', () => {
  let em: EmulatorHarness;
  let root: string;
  let deps: ActivityDeps;
  let jobNo = 0;

  before(async () => {
    em = await startTestEmulator();
    root = mkdtempSync(path.join(tmpdir(), 'cb-sync-'));
    deps = activityDeps(testWorkerConfig(em.url, { dataDir: path.join(root, 'data'), allowedRoots: [root] }));
  });
  after(async () => {
    await em?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function chunkOf(lines: object[]): Omit<SyncChunkArgs, 'concurrency' | 'stopAt' | 'budget' | 'leftovers'> {
    const jobDir = path.join(root, 'data', 'jobs', `sync-${++jobNo}`);
    const file = path.join(jobDir, 'rounds', '1', 'chunks', 'r1-c0001.jsonl');
    mkdirSync(path.dirname(file), { recursive: true });
    const body = lines.map((l) => JSON.stringify(l) + '\n').join('');
    writeFileSync(file, body);
    const chunk: ChunkRef = {
      id: 'r1-c0001',
      round: 1,
      index: 0,
      uri: pathToFileURL(file).href,
      requests: lines.length,
      bytes: body.length,
    };
    return { jobDir: pathToFileURL(jobDir).href, chunk };
  }
  const requests = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => shortRequest(i, prefix));
  const read = (uri: string) =>
    readFileSync(fileURLToPath(uri), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  const syncBilled = async () => (await em.stats()).billed.sync.requests;
  const run = (args: SyncChunkArgs): Promise<ChunkOutcome> =>
    new MockActivityEnvironment().run(syncAnswerActivities(deps).answerSynchronously, args);

  it('waits out 429s (retry-after) and 529s and answers every request once', async () => {
    await em.setFaults({
      messagesRateLimit: { requests: 5, perMs: 1000 },
      http: [{ endpoint: 'messages', status: 529, times: 3 }],
    });
    try {
      const before = await syncBilled();
      const base = chunkOf(requests(12, 'rl'));
      const outcome = await run({ ...base, concurrency: 4, stopAt: null, budget: null, leftovers: 'answer' });
      assert.deepEqual(outcome.outcomes, { succeeded: 12 });
      assert.equal(outcome.via, 'sync');
      const lines = read(outcome.resultsUri!);
      assert.equal(new Set(lines.map((l) => l.custom_id)).size, 12);
      assert.ok(lines.every((l) => l.via === 'sync'));
      assert.equal((await syncBilled()) - before, 12, 'paid once each');
      assert.ok((await em.stats()).rateLimited.messages > 0);
    } finally {
      await em.setFaults({});
    }
  });

  it('answers a request the API refuses with its error, without sending it again', async () => {
    const bad = { custom_id: 'bad-0', params: { ...shortRequest(0).params, max_tokens: 10_000_000 } };
    const base = chunkOf([bad, ...requests(2, 'ok')]);
    const outcome = await run({ ...base, concurrency: 2, stopAt: null, budget: null, leftovers: 'answer' });
    assert.deepEqual(outcome.outcomes, { succeeded: 2, 'errored:invalid_request_error': 1 });
    assert.equal(outcome.retryUri, null);
  });

  it('sends nothing whose worst case would pass the budget; those are answered budget_exceeded (or retried later)', async () => {
    const before = await em.stats();
    const base = chunkOf(requests(40, 'bud'));
    // Each request is held at its worst case from count_tokens until its answer is billed; a few fit in the cap.
    const maxUsd = 0.0005;
    const outcome = await run({ ...base, concurrency: 2, stopAt: null, budget: { maxUsd }, leftovers: 'answer' });
    const after = await em.stats();
    const sent = outcome.outcomes.succeeded ?? 0;
    assert.ok(sent > 0 && sent < 40, `${sent} sent`);
    assert.equal(outcome.outcomes['errored:budget_exceeded'], 40 - sent);
    assert.equal(after.billed.sync.requests - before.billed.sync.requests, sent);
    const billed = after.billed.sync.usd - before.billed.sync.usd;
    assert.ok(billed <= maxUsd, `billed ${billed} within ${maxUsd}`);
    assert.ok(Math.abs(outcome.costUsd - billed) < 1e-9, `${outcome.costUsd} vs ${billed}`);
    const held = await run({
      ...chunkOf(requests(10, 'fixed')),
      concurrency: 4,
      stopAt: null,
      budget: { maxUsd: 0.0105, perRequestUsd: 0.002 },
      leftovers: 'answer',
    });
    // Four in flight at 0.002 each, and answers cost far less than held: all ten fit one after another.
    assert.equal(held.outcomes.succeeded, 10);
    const pilot = chunkOf(requests(4, 'pil'));
    const retried = await run({ ...pilot, concurrency: 1, stopAt: null, budget: { maxUsd: 0 }, leftovers: 'retry' });
    assert.equal(retried.retryable, 4, 'a pilot over its cap sends its requests on to the batches');
    assert.deepEqual(readFileSync(fileURLToPath(retried.retryUri!), 'utf8').split('\n').filter(Boolean).sort(), [
      'pil-0',
      'pil-1',
      'pil-2',
      'pil-3',
    ]);
  });

  it('past the stop time nothing more is sent: the rest is answered deadline_exceeded', async () => {
    const base = chunkOf(requests(3, 'late'));
    const outcome = await run({ ...base, concurrency: 1, stopAt: Date.now() - 1, budget: null, leftovers: 'answer' });
    assert.deepEqual(outcome.outcomes, { 'errored:deadline_exceeded': 3 });
  });

  it('a canceled attempt keeps what it received: the next one sends only the rest', async () => {
    await em.setFaults({ messagesLatencyMs: 150 });
    try {
      const before = await syncBilled();
      const base = chunkOf(requests(30, 'cx'));
      const args: SyncChunkArgs = { ...base, concurrency: 2, stopAt: null, budget: null, leftovers: 'answer' };
      const first = new MockActivityEnvironment();
      const attempt: Promise<ChunkOutcome> = first.run(syncAnswerActivities(deps).answerSynchronously, args);
      await new Promise((r) => setTimeout(r, 1000));
      first.cancel();
      await assert.rejects(attempt);
      const paidFirst = (await syncBilled()) - before;
      assert.ok(paidFirst > 0 && paidFirst < 30, `${paidFirst} answered before the cancel`);
      const outcome = await run(args);
      assert.deepEqual(outcome.outcomes, { succeeded: 30 });
      assert.equal(new Set(read(outcome.resultsUri!).map((l) => l.custom_id)).size, 30);
      assert.ok(outcome.resumedFromLine >= paidFirst - args.concurrency, `kept ${outcome.resumedFromLine}`);
      // At most the requests in flight at the cancel are paid twice (the Messages API has no idempotency key).
      const paid = (await syncBilled()) - before;
      assert.ok(paid >= 30 && paid <= 30 + args.concurrency, `paid ${paid} for 30`);
    } finally {
      await em.setFaults({});
    }
  });
});
