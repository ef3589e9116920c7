import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { batchJob } from '../../workflows/index.js';
import { approveUpdate, rejectUpdate, statusQuery } from '../../workflows/messages.js';
import type { WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import {
  assertExactOutput,
  idsOf,
  jobDir,
  readOutput,
  readReport,
  shortRequest,
  writeJobInput,
} from '../helpers/jobs.js';
import {
  runTestWorker,
  startDevServer,
  startTestWorker,
  testWorkerConfig,
  workflowBundle,
} from '../helpers/temporal.js';

const FAST_POLL = { initial: '1s', max: '2s' };

describe('batch jobs on a Temporal dev server, against the emulator over HTTP', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let config: WorkerConfig;
  let worker: { stop(): Promise<void> } | undefined;

  before(async () => {
    env = await startDevServer();
    em = await startTestEmulator({
      timeScale: 3600,
      processing: { baseLatencyMs: 60_000, perRequestMs: 20, spread: 0.25, cancelLatencyMs: 5000 },
    });
    config = testWorkerConfig(em.url);
    worker = await runTestWorker(env, config);
  });
  after(async () => {
    await worker?.stop();
    await em?.close();
    await env?.teardown();
  });

  // No pilot: these cases count batches and history events of the batch path (the pilot has its own tests).
  const start = (workflowId: string, args: Record<string, unknown>) =>
    env.client.workflow.start(batchJob, {
      taskQueue: config.taskQueue,
      workflowId,
      args: [{ pilot: false, ...args } as never],
    });

  it('runs 25,000 requests as 3 batches of ≤ 10,000: exactly one output line per request, cost equal to the bill', async () => {
    await em.admin('DELETE', '/_emulator/faults');
    const before = await em.stats();
    const dir = jobDir();
    const input = writeJobInput(dir, 25_000, 'big');
    const output = path.join(dir, 'results.jsonl');
    const handle = await start('big-25k', {
      input,
      output,
      chunk: { maxRequests: 10_000 },
      poll: FAST_POLL,
      approval: { thresholdUsd: 1000 },
    });
    const result = await handle.result();
    assert.equal(result.lines, 25_000);
    assertExactOutput(readOutput(output), idsOf(25_000, 'big'));

    const after = await em.stats();
    const batches = after.batches.list.slice(before.batches.list.length);
    assert.deepEqual(batches.map((b) => b.requests).sort(), [10_000, 10_000, 5_000].sort());
    const billed = batches.reduce((sum, b) => sum + (b as unknown as { billed: { usd: number } }).billed.usd, 0);
    const report = readReport(output);
    assert.equal(report.actual.costUsd, Math.round(billed * 1e9) / 1e9, "the report's cost equals the emulator's bill");
    assert.equal(report.outcomes.succeeded, 25_000);
    assert.ok(report.estimate && report.estimate.method === 'sample' && report.estimate.sampleSize >= 400);

    const status = await handle.query(statusQuery);
    assert.equal(status.phase, 'completed');
    assert.equal(status.chunks.length, 3);
    for (const c of status.chunks) {
      assert.match(c.batchId ?? '', /^msgbatch_/);
      assert.equal(c.status, 'done');
      // A done chunk keeps its outcome; its counts and poll times described the batch under way (COMPACT_PATCH).
      assert.equal(c.outcome?.outcomes.succeeded, c.ref.requests, 'outcomes per chunk');
      assert.equal(c.counts, undefined);
    }
    assert.ok(status.totals.lastPollAt, "the job's last poll outlives its chunks' poll times");
  });

  it('rides through a transient 404 after create and a results stream cut off midway', async () => {
    const dir = jobDir();
    const output = path.join(dir, 'out.jsonl');
    await em.setFaults({ notFoundAfterCreateMs: 1500, resultsCutoff: { afterLines: 700, times: 2 } });
    try {
      await (await start('flaky-api', { input: writeJobInput(dir, 2000, 'f'), output, poll: FAST_POLL })).result();
      assertExactOutput(readOutput(output), idsOf(2000, 'f'));
      assert.equal(readReport(output).outcomes.succeeded, 2000);
    } finally {
      await em.setFaults({});
    }
  });

  it('keeps workflow history independent of the number of requests, and replays it deterministically', async () => {
    await em.admin('PUT', '/_emulator/processing', { baseLatencyMs: 0, perRequestMs: 0 }); // ends at once: one poll each
    const sizes: { events: number; bytes: number; childEvents: number }[] = [];
    for (const n of [100, 5000]) {
      const dir = jobDir();
      const handle = await start(`history-${n}`, {
        input: writeJobInput(dir, n, `h${n}`),
        output: path.join(dir, 'out.jsonl'),
        poll: FAST_POLL,
      });
      await handle.result();
      const history = await handle.fetchHistory();
      const child = await env.client.workflow.getHandle(`history-${n}/r0-c0001`).fetchHistory();
      // Workflow tasks are left out: how many there are depends on when signals arrive (prepare's word that the
      // first chunk can be streamed comes during or with its completion), not on the job's size.
      const events = withoutWorkflowTasks(history.events!);
      sizes.push({
        events: events.length,
        bytes: JSON.stringify(events).length,
        childEvents: withoutWorkflowTasks(child.events!).length,
      });
      // Replaying real histories (through their JSON form, as the UI or CLI export them) proves the code deterministic.
      const replay = { workflowBundle: await workflowBundle() };
      await Worker.runReplayHistory(replay, JSON.parse(historyToJSON(history)), `history-${n}`);
      await Worker.runReplayHistory(replay, JSON.parse(historyToJSON(child)), `history-${n}/r0-c0001`);
    }
    await em.admin('PUT', '/_emulator/processing', { baseLatencyMs: 60_000, perRequestMs: 20 });
    const [small, large] = sizes as [(typeof sizes)[0], (typeof sizes)[0]];
    assert.equal(large.events, small.events);
    assert.equal(large.childEvents, small.childEvents);
    assert.ok(
      Math.abs(large.bytes - small.bytes) < 300,
      `history bytes ${small.bytes} vs ${large.bytes} (50x the requests)`,
    );
  });

  it('rejects a job with invalid lines, naming line, field and rule, and submits nothing', async () => {
    const dir = jobDir();
    const input = path.join(dir, 'bad.jsonl');
    const good = (i: number) => JSON.stringify(shortRequest(i, 'v'));
    writeFileSync(
      input,
      [
        good(0),
        '{"custom_id": "v-1", "params": ',
        JSON.stringify({ ...shortRequest(2, 'v'), custom_id: 'has space' }),
        good(0),
        good(4),
      ].join('\n'),
    );
    const created = (await em.stats()).batches.created;
    const handle = await start('invalid-reject', { input, output: path.join(dir, 'out.jsonl') });
    const err = await handle.result().catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError);
    const cause = err.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, 'InvalidInputLines');
    assert.equal(cause.nonRetryable, true);
    assert.match(cause.message, /3 invalid line\(s\)/);
    assert.match(cause.message, /line 2, \(line\): not valid JSON/);
    assert.match(cause.message, /line 3, custom_id: may contain only letters, digits, '-' and '_'/);
    assert.match(cause.message, /line 4, custom_id: duplicate: 'v-0' appears on an earlier line/);
    assert.equal((await em.stats()).batches.created, created, 'nothing was submitted');
  });

  it('skips invalid lines with onInvalid: skip and reports them', async () => {
    const dir = jobDir();
    const input = path.join(dir, 'mixed.jsonl');
    writeFileSync(
      input,
      [JSON.stringify(shortRequest(0, 's')), 'not json', JSON.stringify(shortRequest(1, 's')), ''].join('\n'),
    );
    const output = path.join(dir, 'out.jsonl');
    await (await start('invalid-skip', { input, output, onInvalid: 'skip', poll: FAST_POLL })).result();
    assertExactOutput(readOutput(output), ['s-0', 's-1']);
    const report = readReport(output);
    assert.equal(report.requests.invalidLines, 1);
    assert.match(report.notes.join(' '), /1 invalid input line\(s\) skipped/);
  });

  it('fails at once, listing every problem, when the workflow input itself is invalid', async () => {
    const handle = await start('bad-input', { output: 42, chunk: { maxRequests: 0 }, retry: { maxRounds: 'x' } });
    const err = await handle.result().catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'InvalidJobInput');
    for (const line of [
      '- input: required',
      '- output: must be a string (got 42)',
      '- chunk.maxRequests: must be ≥ 1 (got 0)',
      '- retry.maxRounds: must be a number (got "x")',
    ])
      assert.ok(err.cause.message.includes(line), `${line} in\n${err.cause.message}`);
  });

  it('fails at once, naming the fix, when the API rejects the worker key (nothing was submitted)', async () => {
    const locked = await startTestEmulator({ apiKeys: ['sk-ant-the-right-key'] });
    const wrong = testWorkerConfig(locked.url);
    const w = await startTestWorker(env, wrong);
    try {
      const dir = jobDir();
      const err = await w.runUntil(
        env.client.workflow
          .execute(batchJob, {
            taskQueue: wrong.taskQueue,
            workflowId: 'wrong-key',
            args: [{ input: writeJobInput(dir, 5, 'k'), output: path.join(dir, 'o.jsonl') } as never],
          })
          .catch((e: unknown) => e),
      );
      assert.ok(err instanceof WorkflowFailedError);
      const cause = (err.cause as { cause?: unknown }).cause;
      assert.ok(cause instanceof ApplicationFailure && cause.type === 'AnthropicAuthFailed', String(cause));
      assert.match(cause.message, /rejected the worker's API key .* fix ANTHROPIC_API_KEY on the worker/);
      assert.equal((await locked.stats()).batches.created, 0);
    } finally {
      await locked.close();
    }
  });

  it('waits for approval above the threshold: nothing is submitted until approved', async () => {
    const dir = jobDir();
    const created = (await em.stats()).batches.created;
    const output = path.join(dir, 'out.jsonl');
    const handle = await start('approval-yes', {
      input: writeJobInput(dir, 20, 'a'),
      output,
      approval: { thresholdUsd: 0 },
      poll: FAST_POLL,
    });
    let status = await handle.query(statusQuery);
    while (status.phase !== 'awaiting_approval') {
      await new Promise((r) => setTimeout(r, 100));
      status = await handle.query(statusQuery);
    }
    assert.equal(status.approval?.state, 'waiting');
    assert.ok(status.estimate && status.estimate.batchUsd > 0);
    assert.equal((await em.stats()).batches.created, created, 'nothing submitted while waiting');
    const decision = await handle.executeUpdate(approveUpdate, { args: [{ by: 'tester' }] });
    assert.equal(decision.state, 'approved');
    assert.equal(decision.by, 'tester');
    await assert.rejects(handle.executeUpdate(rejectUpdate, { args: [{}] }), (e: Error) => {
      assert.match(
        String(e.cause),
        /not waiting for approval \(approval: approved/,
        'the validator refuses a second decision',
      );
      return true;
    });
    await handle.result();
    assertExactOutput(readOutput(output), idsOf(20, 'a'));
  });

  it('ends a rejected job without submitting anything', async () => {
    const dir = jobDir();
    const created = (await em.stats()).batches.created;
    const handle = await start('approval-no', {
      input: writeJobInput(dir, 20, 'r'),
      output: path.join(dir, 'out.jsonl'),
      approval: { thresholdUsd: 0 },
    });
    while ((await handle.query(statusQuery)).phase !== 'awaiting_approval')
      await new Promise((r) => setTimeout(r, 100));
    await handle.executeUpdate(rejectUpdate, { args: [{ by: 'finance', reason: 'too expensive' }] });
    const err = await handle.result().catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'JobRejected');
    assert.match(err.cause.message, /rejected by finance: too expensive/);
    assert.equal((await em.stats()).batches.created, created);
  });

  it('admits chunks so the requests queued at Anthropic stay under the limit', async () => {
    const dir = jobDir();
    const output = path.join(dir, 'out.jsonl');
    const before = (await em.stats()).batches.list.length;
    await (
      await start('admission', {
        input: writeJobInput(dir, 3000, 'q'),
        output,
        chunk: { maxRequests: 1000 },
        admission: { maxQueuedRequests: 1000 },
        poll: FAST_POLL,
      })
    ).result();
    const ids = (await em.stats()).batches.list.slice(before).map((b) => b.id);
    const windows = await Promise.all(ids.map(async (id) => em.client.messages.batches.retrieve(id)));
    const spans = windows
      .map((b) => [Date.parse(b.created_at), Date.parse(b.ended_at!)] as const)
      .sort((a, b) => a[0] - b[0]);
    assert.equal(spans.length, 3);
    for (let i = 1; i < spans.length; i++)
      assert.ok(spans[i]![0] >= spans[i - 1]![1], 'a batch was created only after the previous one ended');
  });

  it('cancels open batches when the job is canceled, collects what finished, and still answers every request', async () => {
    await em.admin('PUT', '/_emulator/processing', { baseLatencyMs: 20 * 3600_000, perRequestMs: 0 });
    try {
      const dir = jobDir();
      const output = path.join(dir, 'out.jsonl');
      const handle = await start('cancel-me', {
        input: writeJobInput(dir, 300, 'c'),
        output,
        chunk: { maxRequests: 100 },
        poll: FAST_POLL,
        admission: { maxQueuedRequests: 200 },
      });
      let status = await handle.query(statusQuery);
      while (status.chunks.filter((c) => c.status === 'in_progress').length < 2) {
        await new Promise((r) => setTimeout(r, 100));
        status = await handle.query(statusQuery);
      }
      await handle.cancel();
      const err = await handle.result().catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError, 'the job ends canceled');
      const batchIds = status.chunks.map((c) => c.batchId).filter(Boolean) as string[];
      for (const id of batchIds) {
        const b = await em.client.messages.batches.retrieve(id);
        assert.ok(b.cancel_initiated_at, `batch ${id} was canceled`);
      }
      const lines = readOutput(output);
      assertExactOutput(lines, idsOf(300, 'c'));
      assert.ok(lines.every((l) => l.result.type === 'canceled'));
      const report = readReport(output);
      assert.equal(report.status, 'canceled');
      assert.equal(report.rounds[0]!.batches.length, 2, 'the third chunk was never submitted');
    } finally {
      await em.admin('PUT', '/_emulator/processing', { baseLatencyMs: 60_000, perRequestMs: 20 });
    }
  });
});

function withoutWorkflowTasks(events: temporal.api.history.v1.IHistoryEvent[]) {
  return events.filter(
    (e) =>
      !e.workflowTaskScheduledEventAttributes &&
      !e.workflowTaskStartedEventAttributes &&
      !e.workflowTaskCompletedEventAttributes,
  );
}
