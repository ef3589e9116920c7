import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { batchJob } from '../../workflows/index.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, readReport } from '../helpers/jobs.js';
import { runTestWorker, startJobStack, testWorkerConfig, type JobStack } from '../helpers/temporal.js';

type Line = ReturnType<typeof readOutput>[number] & { via?: string };

/** Requests of different lengths, so that answers (and the pilot's measure of them) vary. */
function writeRequests(dir: string, count: number, prefix: string, maxTokens: number): string {
  const file = path.join(dir, `${prefix}.jsonl`);
  const topics = ['a late delivery', 'a broken zip', 'a refund that never came', 'great service', 'a wrong size'];
  writeFileSync(
    file,
    Array.from({ length: count }, (_, i) =>
      JSON.stringify({
        custom_id: `${prefix}-${i}`,
        params: {
          model: 'claude-haiku-4-5',
          max_tokens: maxTokens,
          messages: [
            { role: 'user', content: `Ticket ${i} is about ${topics[i % topics.length]}. `.repeat(1 + (i % 7)) },
          ],
        },
      }),
    ).join('\n') + '\n',
  );
  return file;
}

const billTotal = (s: { billed: { batch: { usd: number }; sync: { usd: number } } }) =>
  s.billed.batch.usd + s.billed.sync.usd;

describe('pilot and deadline (dev server, emulator ledger)', () => {
  let stack: JobStack;
  before(async () => {
    stack = await startJobStack({ timeScale: 3600 });
  });
  after(() => stack?.stop());

  it('a pilot answers a random sample first, its answers are final, and the estimate uses its measure', async () => {
    const { env, em, config } = stack;
    const dir = jobDir();
    const input = writeRequests(dir, 60, 'pil', 400);
    const output = path.join(dir, 'out.jsonl');
    await env.client.workflow.execute(batchJob, {
      taskQueue: config.taskQueue,
      workflowId: 'pilot-job',
      args: [{ input, output, pilot: { size: 10, minRequests: 20 }, poll: { initial: '1s', max: '1s' } }],
    });

    const stats = await em.stats();
    assert.equal(stats.billed.sync.requests, 10, 'the pilot: ten synchronous messages');
    assert.equal(stats.requests.submitted, 50, 'the pilot is not sent again in a batch');
    const lines = readOutput(output) as Line[];
    assertExactOutput(lines, idsOf(60, 'pil'));
    const sync = lines.filter((l) => l.via === 'sync');
    assert.equal(sync.length, 10);
    assert.ok(sync.every((l) => l.result.type === 'succeeded'));

    const report = readReport(output);
    const e = report.estimate!;
    assert.equal(e.pilot?.answered, 10);
    assert.equal(e.requests, 50, 'the estimate covers what the batches still had to do');
    assert.ok(e.outputRatio < 1, `measured ratio ${e.outputRatio}`);
    assert.ok(e.expectedRange && e.expectedRange.lowUsd <= e.batchUsd && e.batchUsd <= e.expectedRange.highUsd);
    // The measured output is far nearer the truth than max_tokens (what the estimate assumed before).
    const billedOutput = stats.billed.batch.tokens['claude-haiku-4-5']!.output!;
    assert.ok(
      Math.abs(e.tokens.output - billedOutput) < 0.5 * Math.abs(50 * 400 - billedOutput),
      `expected ${e.tokens.output} output tokens, billed ${billedOutput}, max_tokens ${50 * 400}`,
    );
    assert.equal(report.actual.synchronous?.requests, 10);
    assert.ok(Math.abs(report.actual.synchronous!.costUsd - stats.billed.sync.usd) < 1e-9);
    assert.ok(
      Math.abs(report.actual.costUsd - billTotal(stats)) < 2e-9,
      `${report.actual.costUsd} vs ${billTotal(stats)}`,
    );
  });

  it('at the cutoff, the slow batch is canceled, what it finished is kept, and the rest is answered synchronously before the deadline', async () => {
    const { env } = stack;
    // Real time: the first batch finishes a request every 0.6 s, so it is still running at the cutoff.
    const slow = await startTestEmulator({
      timeScale: 1,
      processing: { baseLatencyMs: 500, perRequestMs: 600, spread: 0, cancelLatencyMs: 0 },
    });
    const config = testWorkerConfig(slow.url);
    const own = await runTestWorker(env, config);
    try {
      // The Messages API allows 10 answers a second here: the drain meets 429s and their retry-after.
      await slow.setFaults({ messagesRateLimit: { requests: 10, perMs: 1000 }, messagesLatencyMs: 50 });
      const dir = jobDir();
      const input = writeRequests(dir, 40, 'ddl', 64);
      const output = path.join(dir, 'out.jsonl');
      const startedAt = Date.now();
      const deadline = new Date(startedAt + 20_000).toISOString();
      // 40 unanswered, 4 at a time, 0.25 s each: 2.5 s of drain; 8 s of margin → cutoff ~9.5 s after the start.
      await env.client.workflow.execute(batchJob, {
        taskQueue: config.taskQueue,
        workflowId: 'deadline-job',
        args: [
          {
            input,
            output,
            chunk: { maxRequests: 20 },
            admission: { maxQueuedRequests: 100_000, maxConcurrentBatches: 1 },
            deadline: { at: deadline, margin: '8s', concurrency: 4, requestSeconds: 0.25 },
            poll: { initial: '1s', max: '1s' },
          },
        ],
      });
      const finishedAt = Date.now();

      const stats = await slow.stats();
      assert.equal(stats.batches.created, 1, 'the second chunk was never submitted: the cutoff came first');
      const first = stats.batches.list[0]!;
      assert.ok(
        (await slow.client.messages.batches.retrieve(first.id)).cancel_initiated_at,
        'the slow batch was canceled',
      );

      const lines = readOutput(output) as Line[];
      assertExactOutput(lines, idsOf(40, 'ddl'));
      const viaBatch = lines.filter((l) => l.via !== 'sync');
      const viaSync = lines.filter((l) => l.via === 'sync');
      assert.ok(viaBatch.length > 0 && viaBatch.length < 20, `${viaBatch.length} answers kept from the batch`);
      assert.ok(
        viaBatch.every((l) => l.result.type === 'succeeded'),
        'only finished answers are kept from the batch',
      );
      assert.equal(viaBatch.length, first.billed!.succeeded);
      assert.equal(viaSync.length, 40 - viaBatch.length);
      assert.ok(
        viaSync.every((l) => l.result.type === 'succeeded'),
        JSON.stringify(viaSync.find((l) => l.result.type !== 'succeeded')),
      );
      assert.equal(stats.billed.sync.requests, viaSync.length, 'each straggler paid once');
      assert.ok(stats.rateLimited.messages > 0, 'the drain met the rate limit');

      const report = readReport(output);
      assert.ok(
        Date.parse(report.timing.finishedAt) <= Date.parse(deadline),
        `${report.timing.finishedAt} vs ${deadline}`,
      );
      assert.ok(finishedAt <= Date.parse(deadline) + 1000);
      assert.equal(report.actual.synchronous?.requests, viaSync.length);
      assert.ok(
        Math.abs(report.actual.costUsd - billTotal(stats)) < 2e-9,
        `${report.actual.costUsd} vs ${billTotal(stats)}`,
      );
      assert.ok(
        report.notes.some((n) => /deadline .* was near/.test(n)),
        report.notes.join('\n'),
      );
    } finally {
      await own.stop();
      await slow.close();
    }
  });
});
