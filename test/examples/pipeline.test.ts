import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import * as claudeBatch from 'claude-batch';
import { TICKET_LABELS } from '../../examples/support-tickets.js';
import { createPipelineWorker, pipelineWorkflowsPath } from '../../examples/pipeline/worker.js';
import type { ticketPipeline } from '../../examples/pipeline/workflows.js';
import type { WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, jobDir, readOutput } from '../helpers/jobs.js';
import { startDevServer, startTestWorker, testWorkerConfig } from '../helpers/temporal.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never;
const TICKETS = 200;
const ticketIds = Array.from({ length: TICKETS }, (_, i) => `ticket-${String(i).padStart(6, '0')}`);

describe('the package entry', () => {
  it('resolves as \'claude-batch\' (self-reference through "exports") with the public API', async () => {
    assert.equal(typeof claudeBatch.batchJob, 'function');
    assert.equal(typeof claudeBatch.executeBatchJob, 'function');
    assert.equal(claudeBatch.DEFAULT_TASK_QUEUE, 'claude-batch');
    assert.equal(claudeBatch.BATCH_JOB_WORKFLOW_TYPE, claudeBatch.batchJob.name);
    assert.equal(claudeBatch.statusQuery.name, 'status');
    assert.equal(claudeBatch.approveUpdate.name, 'approve');
    assert.equal(claudeBatch.rejectUpdate.name, 'reject');
    const worker = await import('claude-batch/worker');
    assert.equal(typeof worker.createBatchWorker, 'function');
    assert.equal(typeof worker.workerConfigFromEnv, 'function');
  });

  it('bundles as workflow code: no Node built-ins, and batchJob can be registered from it', async () => {
    const entry = fileURLToPath(import.meta.resolve('claude-batch'));
    assert.equal(entry, fileURLToPath(new URL('../../workflows/public.js', import.meta.url)));
    // Temporal's bundler fails on any import of a Node built-in (or other module a workflow may not use).
    const { code } = await bundleWorkflowCode({ workflowsPath: entry, logger: quiet });
    assert.ok(code.includes('executeBatchJob'));
  });
});

describe('a user workflow running a batch job as a child (examples/pipeline)', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let config: WorkerConfig;
  let batchWorker: Worker;
  let pipelineWorker: Worker;
  let running: Promise<unknown>;
  const pipelineQueue = `pipeline-${Math.random().toString(36).slice(2, 10)}`;

  before(async () => {
    // The pipeline's worker bundles only the pipeline's file (which imports 'claude-batch' by name).
    const bundled = bundleWorkflowCode({ workflowsPath: pipelineWorkflowsPath, logger: quiet });
    bundled.catch(() => {}); // awaited below; not unhandled if the server fails first
    [env, em] = await Promise.all([startDevServer(), startTestEmulator()]);
    // claude-batch's worker on a queue of its own choosing, passed to executeBatchJob through the pipeline's input.
    config = testWorkerConfig(em.url);
    batchWorker = await startTestWorker(env, config);
    const { code } = await bundled;
    pipelineWorker = await createPipelineWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: pipelineQueue,
      workflowBundle: { code },
    });
    running = Promise.all([batchWorker.run(), pipelineWorker.run()]);
  });
  after(async () => {
    pipelineWorker?.shutdown();
    batchWorker?.shutdown();
    await running;
    await em?.close();
    await env?.teardown();
  });

  it(`classifies ${TICKETS} tickets: prepare → batchJob (child, on the claude-batch worker) → summary`, async () => {
    const dir = jobDir();
    const workflowId = 'ticket-pipeline-1';
    const result = await env.client.workflow.execute<typeof ticketPipeline>('ticketPipeline', {
      taskQueue: pipelineQueue,
      workflowId,
      args: [{ dir, tickets: TICKETS, taskQueue: config.taskQueue, job: { poll: { initial: '1s', max: '2s' } } }],
    });

    // The job ran as a child with the derived id, on the claude-batch worker's queue, and completed.
    const child = await env.client.workflow.getHandle(`${workflowId}/batch-job`).describe();
    assert.equal(child.type, 'batchJob');
    assert.equal(child.status.name, 'COMPLETED');
    assert.equal(child.taskQueue, config.taskQueue);
    assert.equal(child.parentExecution?.workflowId, workflowId);

    // One output line per ticket.
    const outputFile = path.join(dir, 'results.jsonl');
    assert.equal(fileURLToPath(result.job.outputUri), outputFile);
    const lines = readOutput(outputFile);
    assertExactOutput(lines, ticketIds);
    assert.equal(result.job.lines, TICKETS);

    // The summary adds up and matches the output, counted independently here.
    const { summary } = result;
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(summary.lines, TICKETS);
    assert.equal(sum(summary.byOutcome), TICKETS);
    assert.deepEqual(summary.byOutcome, result.job.outcomes, "the summary's outcomes are the job's");
    assert.equal(sum(summary.byLabel), summary.byOutcome.succeeded ?? 0);
    const expected: Record<string, number> = {};
    for (const l of lines) {
      if (l.result.type !== 'succeeded') continue;
      const message = (l.result as unknown as { message: { content: { text: string }[] } }).message;
      const label = message.content[0]!.text;
      expected[label] = (expected[label] ?? 0) + 1;
    }
    assert.deepEqual(summary.byLabel, expected);
    for (const label of Object.keys(summary.byLabel))
      assert.ok((TICKET_LABELS as readonly string[]).includes(label), `${label} is a ticket label`);
    assert.ok(Object.keys(summary.byLabel).length > 1, 'tickets spread over several labels');
    assert.deepEqual(JSON.parse(readFileSync(summary.summaryFile, 'utf8')), summary);
  });
});
