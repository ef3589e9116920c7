import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityInterceptors } from '@temporalio/worker';
import { activityInfo } from '@temporalio/activity';
import { batchJob } from '../../workflows/index.js';
import { chunkStatusQuery } from '../../workflows/messages.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, readReport, writeJobInput } from '../helpers/jobs.js';
import { startTestWorker, startTimeSkippingServer, testWorkerConfig } from '../helpers/temporal.js';

const HOUR = 3600_000;

/**
 * Keeps the emulator's clock on the test server's (skipped) time: before each activity runs, the emulator is
 * advanced to the moment the activity was scheduled. Optional hooks run after given activities.
 */
function clockBridge(em: EmulatorHarness, after: Record<string, () => Promise<void>> = {}): () => ActivityInterceptors {
  return () => ({
    inbound: {
      async execute(input, next) {
        const to = new Date(activityInfo().currentAttemptScheduledTimestampMs).toISOString();
        await em.admin('POST', '/_emulator/clock/advance', { to }); // 400 when already later: fine
        const result = await next(input);
        await after[activityInfo().activityType]?.();
        return result;
      },
    },
  });
}

describe('long batches on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startTimeSkippingServer();
  });
  after(() => env?.teardown());

  it('polls a 20 h batch with growing intervals and warns once, at expires_at − expiryWarning', async () => {
    const em = await startTestEmulator({
      timeScale: 1e-6,
      processing: { baseLatencyMs: 20 * HOUR, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
    });
    const hooks: unknown[] = [];
    const webhook: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        hooks.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/expiring`;
    try {
      const config = testWorkerConfig(em.url, { webhookAllowlist: [hookUrl] });
      const worker = await startTestWorker(env, config, { activity: [clockBridge(em)] });
      const dir = jobDir();
      const output = path.join(dir, 'out.jsonl');
      // Everything inside runUntil: queries need a running worker.
      const { events, status } = await worker.runUntil(async () => {
        await env.client.workflow.execute(batchJob, {
          taskQueue: config.taskQueue,
          workflowId: 'twenty-hours',
          args: [
            {
              input: writeJobInput(dir, 10, 'long'),
              output,
              poll: { initial: '30s', max: '10m' },
              expiryWarning: '6h',
              notify: { webhook: hookUrl },
            },
          ],
        });
        const child = env.client.workflow.getHandle('twenty-hours/r0-c0001');
        return { events: (await child.fetchHistory()).events!, status: await child.query(chunkStatusQuery) };
      });
      assertExactOutput(readOutput(output), idsOf(10, 'long'));

      const timers = events
        .filter((e) => e.timerStartedEventAttributes)
        .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
      assert.equal(timers[0], 30, 'the first poll comes quickly');
      assert.equal(timers[1], 45, 'then the interval grows');
      assert.equal(Math.max(...timers), 600, 'up to poll.max');
      const growing = timers.slice(0, timers.indexOf(600));
      assert.deepEqual(
        growing,
        [...growing].sort((a, b) => a - b),
      );
      assert.ok(timers.length > 100 && timers.length < 160, `${timers.length} polls over 20 h`);

      const expiresAt = Date.parse(status.expiresAt!);
      const warnings = events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'notifyExpiring',
      );
      assert.equal(warnings.length, 1, 'warned exactly once');
      const warnedAt = Number(warnings[0]!.eventTime!.seconds) * 1000;
      assert.ok(
        Math.abs(warnedAt - (expiresAt - 6 * HOUR)) < 5000,
        `warned at ${new Date(warnedAt).toISOString()}, expires ${status.expiresAt}`,
      );
      assert.equal(status.expiryWarnedAt !== undefined, true);
      assert.ok(
        events.some((e) => e.upsertWorkflowSearchAttributesEventAttributes),
        'the expiring-soon search attribute is set',
      );
      assert.equal(hooks.length, 1, 'the allow-listed webhook was called once');
      assert.equal((hooks[0] as { event: string; batchId: string }).event, 'batch.expiring');
      assert.equal((hooks[0] as { batchId: string }).batchId, status.batchId);
    } finally {
      webhook.close();
      await em.close();
    }
  });

  it('resubmits the requests that expired in a new batch, and ends complete', async () => {
    const em = await startTestEmulator({
      timeScale: 1e-6,
      processing: { baseLatencyMs: HOUR, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
    });
    try {
      await em.setFaults({ seed: 3, outcomes: { expired: 0.3 } });
      const config = testWorkerConfig(em.url);
      // Only the first batch suffers expiries: the faults are cleared once it has been created.
      const worker = await startTestWorker(env, config, {
        activity: [clockBridge(em, { submitBatch: () => em.setFaults({}) })],
      });
      const dir = jobDir();
      const output = path.join(dir, 'out.jsonl');
      await worker.runUntil(
        env.client.workflow.execute(batchJob, {
          taskQueue: config.taskQueue,
          workflowId: 'partly-expired',
          args: [{ input: writeJobInput(dir, 200, 'px'), output, poll: { initial: '1m', max: '30m' } }],
        }),
      );
      const lines = readOutput(output);
      assertExactOutput(lines, idsOf(200, 'px'));
      assert.ok(
        lines.every((l) => l.result.type === 'succeeded'),
        'every request answered after the retry round',
      );
      const report = readReport(output);
      assert.equal(report.rounds.length, 2);
      const expired = report.rounds[0]!.batches[0]!.outcomes.expired!;
      assert.ok(expired > 30 && expired < 90, `${expired} of 200 expired in the first batch`);
      assert.equal(report.rounds[0]!.retried, expired);
      assert.equal(report.rounds[1]!.batches[0]!.requests, expired, 'only the expired requests were resubmitted');
      assert.equal((await em.stats()).batches.created, 2);
    } finally {
      await em.close();
    }
  });
});
