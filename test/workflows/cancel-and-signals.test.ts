import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkerConfig } from '../../worker/config.js';
import { statusQuery } from '../../workflows/messages.js';
import { type EmulatorHarness } from '../helpers/emulator.js';
import { idsOf, jobDir, readOutput, readReport, writeJobInput } from '../helpers/jobs.js';
import { startJobStack, type JobStack } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

describe('cancel with a chunk that closed without reporting; progress signals only on change', () => {
  let stack: JobStack;
  let env: TestWorkflowEnvironment;
  /** Batches that take 10 minutes: the job is still running when it is canceled. */
  let em: EmulatorHarness;
  let config: WorkerConfig;

  before(async () => {
    stack = await startJobStack({
      processing: { baseLatencyMs: 600_000, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
    });
    ({ env, em, config } = stack);
  });
  after(() => stack?.stop());

  it('polls without news send no signals; a cancel finalizes even though one chunk was terminated, and stops its batch', async () => {
    const dir = jobDir();
    const handle = await env.client.workflow.start('batchJob', {
      workflowId: 'cancel-closed',
      taskQueue: config.taskQueue,
      args: [
        {
          input: writeJobInput(dir, 4, 'cc'),
          output: path.join(dir, 'out.jsonl'),
          chunk: { maxRequests: 2 },
          poll: { initial: '1s', max: '1s' },
        },
      ],
    });
    const query = () => handle.query(statusQuery);
    // The query may fail while the job's first workflow task runs: not yet.
    await until(async () => {
      const s = await query().catch(() => null);
      return !!s && s.chunks.length === 2 && s.chunks.every((c) => c.status === 'in_progress');
    }, 'both batches running');
    const child = env.client.workflow.getHandle('cancel-closed/r0-c0001');
    // Let the first chunk poll a while with nothing changing.
    await until(
      async () => {
        const events = (await child.fetchHistory().catch(() => null))?.events ?? [];
        return (
          events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'pollBatch').length >= 10
        );
      },
      'ten polls',
      90_000,
    );
    const events = (await child.fetchHistory()).events ?? [];
    const polls = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'pollBatch');
    const signals = events.filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes);
    assert.ok(polls.length >= 10);
    assert.ok(signals.length <= 3, `${signals.length} progress signals for ${polls.length} polls without news`);

    // The second chunk dies without a word (as a terminated or lost workflow would).
    const second = (await query()).chunks[1]!;
    await env.client.workflow.getHandle('cancel-closed/r0-c0002').terminate('test: a chunk that never reports');
    await handle.cancel();
    await assert.rejects(handle.result());

    const status = await query();
    assert.equal(status.phase, 'canceled');
    const out = readOutput(path.join(dir, 'out.jsonl'));
    assert.deepEqual(out.map((l) => l.custom_id).sort(), idsOf(4, 'cc').sort(), 'one line per request');
    const byId = Object.fromEntries(out.map((l) => [l.custom_id, l]));
    assert.equal(byId['cc-0']!.result.type, 'canceled', 'the live chunk canceled its batch and collected it');
    assert.equal(byId['cc-2']!.result.type, 'errored');
    assert.equal(byId['cc-2']!.result.error?.error?.type, 'job_error');
    const report = readReport(path.join(dir, 'out.jsonl'));
    assert.ok(
      report.notes.some((n) => /ended \(terminated\) without reporting/.test(n)),
      report.notes.join('\n'),
    );
    // The terminated chunk's batch is ours and nobody will collect it: the job stopped it.
    const batch = await em.client.messages.batches.retrieve(second.batchId!);
    assert.notEqual(batch.cancel_initiated_at, null, 'its batch was canceled');
  });
});
