import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityInterceptors } from '@temporalio/worker';
import { activityInfo } from '@temporalio/activity';
import type { temporal } from '@temporalio/proto';
import { batchJob } from '../../workflows/index.js';
import { FETCH_AT_ONCE_PATCH } from '../../workflows/batch-chunk.js';
import { nextPollDelay } from '../../shared/polling.js';
import { toMs } from '../../shared/duration.js';
import type { ChunkProgress } from '../../shared/job-state.js';
import type { BatchStatus } from '../../shared/job-types.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { startTestWorker, startTimeSkippingServer, testWorkerConfig } from '../helpers/temporal.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const HOUR = 3600_000;
const POLL = { initial: '30s', max: '10m' };
/**
 * Real time the poll activity and the workflow tasks around it take (the test server's clock runs at real speed
 * while they do): only this may come on top of a poll interval. Generous, for a loaded 2-core machine.
 */
const SLACK_MS = 30_000;

/** Keeps the emulator's clock on the test server's (skipped) time: advanced to each activity's scheduled time. */
function clockBridge(em: EmulatorHarness): () => ActivityInterceptors {
  return () => ({
    inbound: {
      async execute(input, next) {
        const to = new Date(activityInfo().currentAttemptScheduledTimestampMs).toISOString();
        await em.admin('POST', '/_emulator/clock/advance', { to }); // 400 when already later: fine
        return next(input);
      },
    },
  });
}

const decode = <T>(p: temporal.api.common.v1.IPayloads | null | undefined): T =>
  JSON.parse(Buffer.from(p!.payloads![0]!.data!).toString('utf8')) as T;

const activityType = (e: HistoryEvent) => e.activityTaskScheduledEventAttributes?.activityType?.name;

/** The events strictly between the events at indexes `from` and `to`, by kind. */
function between(events: HistoryEvent[], from: number, to: number) {
  const inside = events.slice(from + 1, to);
  return {
    timersStarted: inside.filter((e) => e.timerStartedEventAttributes).length,
    timersFired: inside.filter((e) => e.timerFiredEventAttributes).length,
    workflowTasksCompleted: inside.filter((e) => e.workflowTaskCompletedEventAttributes).length,
  };
}

describe('poll timing', () => {
  it('never waits longer than poll.max between polls, even below the 1 s floor', () => {
    for (const poll of [POLL, { initial: '200ms', max: '500ms' }, { initial: 100, max: 100 }])
      for (let polls = 1; polls < 40; polls++) {
        assert.ok(nextPollDelay(polls, poll, 0, null) <= toMs(poll.max), `${JSON.stringify(poll)}, poll ${polls}`);
        assert.ok(nextPollDelay(polls, poll, 0, 10) <= toMs(poll.max), 'with the expiry warning due');
      }
    assert.equal(nextPollDelay(50, POLL, 5_000, 5_010), 1_000, 'the 1 s floor near the expiry warning');
  });
});

describe('a batch that ends is fetched at once, and the last one finalized at once (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  before(async () => {
    env = await startTimeSkippingServer();
    // Two hours a batch: a dozen polls of growing interval, the end falling between two of them.
    em = await startTestEmulator({
      timeScale: 1e-6,
      processing: { baseLatencyMs: 2 * HOUR, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
    });
  });
  after(async () => {
    await em?.close();
    await env?.teardown();
  });

  it('notices the end within a poll interval, then fetches and finalizes with no timer in between', async (t) => {
    const config = testWorkerConfig(em.url);
    const worker = await startTestWorker(env, config, { activity: [clockBridge(em)] });
    const dir = jobDir();
    const output = path.join(dir, 'out.jsonl');
    const jobId = 'poll-timing';
    await worker.runUntil(
      env.client.workflow.execute(batchJob, {
        taskQueue: config.taskQueue,
        workflowId: jobId,
        args: [{ input: writeJobInput(dir, 10, 'pt'), output, chunk: { maxRequests: 5 }, poll: POLL }],
      }),
    );
    assertExactOutput(readOutput(output), idsOf(10, 'pt'));
    const historyOf = async (id: string) => (await env.client.workflow.getHandle(id).fetchHistory()).events!;

    for (const chunkId of ['r0-c0001', 'r0-c0002']) {
      const events = await historyOf(`${jobId}/${chunkId}`);
      const markers = events
        .flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}))
        .map((p) => Buffer.from(p.payloads?.[0]?.data ?? []).toString('utf8'));
      assert.ok(
        markers.some((m) => m.includes(FETCH_AT_ONCE_PATCH)),
        `the chunk ran with ${FETCH_AT_ONCE_PATCH}`,
      );
      // Each poll: when it was scheduled, what it saw, and where its completion is in the history.
      const polls = events.flatMap((e, at) => {
        const done = e.activityTaskCompletedEventAttributes;
        if (!done) return [];
        const scheduled = events.find((s) => String(s.eventId) === String(done.scheduledEventId));
        if (!scheduled || activityType(scheduled) !== 'pollBatch') return [];
        return [{ at, status: decode<BatchStatus>(done.result) }];
      });
      const ending = polls.findIndex((p) => p.status.status === 'ended');
      assert.ok(ending > 1, `${chunkId}: several polls before the end (${polls.length} polls)`);
      const last = polls[ending]!;
      const previous = polls[ending - 1]!;
      const endedAt = Date.parse(last.status.endedAt!);
      // (a) Noticed within one poll interval of ended_at (the emulator's clock follows the server's, see above).
      assert.ok(previous.status.polledAt < endedAt, 'the poll before saw it running');
      assert.ok(last.status.polledAt >= endedAt, 'the ending poll came after the end');
      const late = last.status.polledAt - endedAt;
      assert.ok(late <= toMs(POLL.max) + SLACK_MS, `${chunkId}: noticed ${late} ms after ended_at`);
      const timers = between(events, previous.at, last.at);
      assert.equal(timers.timersFired, 1, 'one sleep between the two polls');
      const slept = events.slice(previous.at, last.at).find((e) => e.timerStartedEventAttributes)!
        .timerStartedEventAttributes!.startToFireTimeout!;
      assert.ok(Number(slept.seconds) * 1000 <= toMs(POLL.max), 'the sleep is at most poll.max');
      t.diagnostic(`${chunkId}: poll ${ending + 1} saw the end ${late} ms after ended_at (slept ${slept.seconds} s)`);

      // (b) The fetch is scheduled by the very workflow task that saw the end: no timer, no signal round trip.
      const fetch = events.findIndex((e) => activityType(e) === 'fetchResults');
      assert.ok(fetch > last.at, `${chunkId}: fetched after the ending poll`);
      assert.deepEqual(between(events, last.at, fetch), {
        timersStarted: 0,
        timersFired: 0,
        workflowTasksCompleted: 1,
      });
    }

    // (b) The job: the last chunk's "done" signal is followed by finalizeJob in the same workflow task.
    const events = await historyOf(jobId);
    const finalize = events.findIndex((e) => activityType(e) === 'finalizeJob');
    assert.ok(finalize > 0, 'finalized');
    const doneSignals = events
      .map((e, at) => ({ at, s: e.workflowExecutionSignaledEventAttributes }))
      .filter(({ s }) => s?.signalName === 'chunkProgress' && decode<ChunkProgress>(s.input).status === 'done');
    assert.equal(doneSignals.length, 2, 'both chunks reported done');
    const lastDone = doneSignals.at(-1)!.at;
    assert.ok(lastDone < finalize, 'the last chunk reported before the job finalized');
    assert.deepEqual(between(events, lastDone, finalize), {
      timersStarted: 0,
      timersFired: 0,
      workflowTasksCompleted: 1,
    });
  });
});
