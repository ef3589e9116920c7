import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob, estimateJob } from '../../workflows/index.js';
import { budgetAdmits, budgetPassed, budgetStatus, chunkReservationUsd } from '../../shared/budget.js';
import { initialState, type ChunkState } from '../../shared/job-state.js';
import type { Estimate } from '../../shared/job-types.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { idsOf, jobDir, readOutput, readReport, writeJobInput } from '../helpers/jobs.js';
import { runTestWorker, startJobStack, testWorkerConfig, type JobStack } from '../helpers/temporal.js';

const estimate = (over: Partial<Estimate> = {}): Estimate => ({
  method: 'exhaustive',
  sampleSize: 100,
  inputErrorBound: 0,
  outputRatio: 1,
  requests: 100,
  tokens: { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 },
  batchUsd: 0.5,
  standardUsd: 1,
  worst: {
    tokens: { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 },
    batchUsd: 1,
    standardUsd: 2,
  },
  priceTableAsOf: '2026-12-01',
  unknownModels: [],
  ...over,
});
const chunk = (id: string, requests: number, over: Partial<ChunkState> = {}): ChunkState => ({
  ref: { id, round: 0, index: 0, uri: `file:///${id}`, requests, bytes: 1 },
  status: 'pending',
  ...over,
});

describe('budget: the arithmetic', () => {
  it("holds each chunk's share of the worst case, widened by a sampled estimate's error bound", () => {
    assert.equal(chunkReservationUsd(estimate(), 25), 0.25);
    assert.equal(chunkReservationUsd(estimate({ inputErrorBound: 0.1 }), 25), 0.275);
    assert.equal(chunkReservationUsd(null, 25), 0);
  });

  it('admits a chunk only while billed + held + its worst case stay within the cap', () => {
    const state = { ...initialState(0), estimate: estimate() };
    state.chunks = [
      chunk('a', 25, { status: 'done', outcome: { retryUri: null, retryable: 0, outcomes: {}, costUsd: 0.1 } }),
      chunk('b', 25, { status: 'in_progress' }),
      chunk('c', 25),
    ];
    // billed 0.10 + held 0.25 (b) + 0.25 (c) = 0.60
    assert.deepEqual(budgetStatus(state, 1), { maxUsd: 1, spentUsd: 0.1, reservedUsd: 0.25 });
    assert.equal(budgetAdmits(state, state.chunks[2]!, 0.6), true);
    assert.equal(budgetAdmits(state, state.chunks[2]!, 0.59), false);
    assert.equal(budgetPassed(state, 0.35), false);
    assert.equal(budgetPassed(state, 0.34), true, 'an estimate that was too low: what runs must be canceled');
  });
});

describe('budget: a job stops submitting at its cap (dev server, emulator ledger)', () => {
  let stack: JobStack;
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let taskQueue: string;
  before(async () => {
    stack = await startJobStack({ timeScale: 3600 });
    ({ env, em } = stack);
    taskQueue = stack.config.taskQueue;
  });
  after(() => stack?.stop());

  it('submits what fits, answers the rest budget_exceeded, and is billed no more than the cap', async () => {
    const dir = jobDir();
    const input = writeJobInput(dir, 100, 'bud');
    const job = { input, output: path.join(dir, 'out.jsonl'), chunk: { maxRequests: 20 } };
    const dry = await env.client.workflow.execute(estimateJob, { taskQueue, workflowId: 'budget-dry', args: [job] });
    const perChunk = dry.estimate!.worst!.batchUsd / 5;
    const maxUsd = 2.5 * perChunk;
    await env.client.workflow.execute(batchJob, {
      taskQueue,
      workflowId: 'budget-cap',
      args: [{ ...job, budget: { maxUsd }, poll: { initial: '1s', max: '1s' } }],
    });

    const stats = await em.stats();
    const sent = stats.batches.created;
    assert.ok(sent >= 2 && sent < 5, `${sent} of 5 batches were created`);
    assert.ok(stats.billed.batch.usd <= maxUsd, `billed ${stats.billed.batch.usd} within ${maxUsd}`);
    // Held back only when no batch was under way and the next one's worst case would pass the cap.
    assert.ok(stats.billed.batch.usd + perChunk > maxUsd);

    const lines = readOutput(job.output);
    assert.deepEqual(lines.map((l) => l.custom_id).sort(), idsOf(100, 'bud').sort(), 'one line per request');
    const held = lines.filter(
      (l) => l.result.type === 'errored' && JSON.stringify(l.result).includes('"budget_exceeded"'),
    );
    assert.equal(held.length, 100 - 20 * sent);
    assert.equal(lines.filter((l) => l.result.type === 'succeeded').length, 20 * sent);
    const report = readReport(job.output);
    assert.equal(report.outcomes['errored:budget_exceeded'], held.length);
    assert.ok(
      report.notes.some((n) => /budget of \$[\d.]+ would be passed/.test(n)),
      report.notes.join('\n'),
    );
    assert.equal(report.actual.costUsd, stats.billed.batch.usd);
  });

  it('cancels the batches under way when the bill would pass the cap (an estimate that was too low)', async () => {
    // count_tokens that answers a fifth of what is billed: every worst case, and so every hold, is far too low.
    // Slow processing, so the big chunk is still early on when the small one's bill shows the estimate was wrong.
    const slow = await startTestEmulator({
      timeScale: 1,
      processing: { baseLatencyMs: 500, perRequestMs: 150, spread: 0, cancelLatencyMs: 0 },
    });
    const config = testWorkerConfig(slow.url);
    const own = await runTestWorker(env, config);
    try {
      await slow.setFaults({ countTokensScale: 0.2 });
      const counted = await slow.client.messages.countTokens({
        model: 'claude-haiku-4-5',
        messages: [{ role: 'user', content: 'word '.repeat(400) }],
      });
      assert.ok(counted.input_tokens > 50 && counted.input_tokens < 150, `scaled count ${counted.input_tokens}`);

      const dir = jobDir();
      const input = path.join(dir, 'long.jsonl');
      const text = 'Summarise this complaint in one word. '.repeat(60);
      writeFileSync(
        input,
        Array.from({ length: 210 }, (_, i) =>
          JSON.stringify({
            custom_id: `long-${i}`,
            params: {
              model: 'claude-haiku-4-5',
              max_tokens: 8,
              messages: [{ role: 'user', content: `${i}: ${text}` }],
            },
          }),
        ).join('\n') + '\n',
      );
      const job = { input, output: path.join(dir, 'out.jsonl'), chunk: { maxRequests: 200 } };
      const dry = await env.client.workflow.execute(estimateJob, {
        taskQueue: config.taskQueue,
        workflowId: 'budget-low-dry',
        args: [job],
      });
      const worst = dry.estimate!.worst!.batchUsd;
      const [r1, r2] = [(worst * 200) / 210, (worst * 10) / 210];
      const maxUsd = r1 + 1.05 * r2; // both chunks are admitted at once
      await env.client.workflow.execute(batchJob, {
        taskQueue: config.taskQueue,
        workflowId: 'budget-low',
        args: [{ ...job, budget: { maxUsd }, poll: { initial: '1s', max: '1s' } }],
      });

      const stats = await slow.stats();
      assert.equal(stats.batches.created, 2, 'no retry round after the budget stopped the job');
      assert.ok(stats.billed.batch.usd <= maxUsd, `billed ${stats.billed.batch.usd} within ${maxUsd}`);
      const big = stats.batches.list.find((b) => b.requests === 200)!;
      assert.ok(
        (await slow.client.messages.batches.retrieve(big.id)).cancel_initiated_at,
        'the big batch was canceled',
      );
      const lines = readOutput(job.output);
      assert.deepEqual(lines.map((l) => l.custom_id).sort(), idsOf(210, 'long').sort());
      assert.ok(
        lines.some((l) => l.result.type === 'canceled'),
        'what had not run is answered canceled',
      );
      const report = readReport(job.output);
      assert.ok(
        report.notes.some((n) => /would pass the budget .*were canceled/.test(n)),
        report.notes.join('\n'),
      );
      assert.equal(report.actual.costUsd, stats.billed.batch.usd);
    } finally {
      await own.stop();
      await slow.close();
    }
  });
});
