import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob } from '../../workflows/index.js';
import { chunkProgressSignal, statusQuery } from '../../workflows/messages.js';
import type { WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { startDevServer, runTestWorker, testWorkerConfig } from '../helpers/temporal.js';

describe('continue-as-new when Temporal suggests it', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let config: WorkerConfig;
  let worker: { stop(): Promise<void> } | undefined;
  before(async () => {
    // A tiny history budget makes the server suggest continue-as-new after a few polls.
    env = await startDevServer(['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40']);
    em = await startTestEmulator({
      timeScale: 600,
      processing: { baseLatencyMs: 2 * 3600_000, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
    });
    config = testWorkerConfig(em.url);
    worker = await runTestWorker(env, config);
  });
  after(async () => {
    await worker?.stop();
    await em?.close();
    await env?.teardown();
  });

  it('takes a chunk progress signal that comes with the start of a run (as one may at continue-as-new)', async () => {
    // The signal is in the run's first activation, so the SDK hands it to the handler inside setHandler. It once
    // reached a helper declared further down, and every workflow task of the run failed from then on.
    const dir = jobDir();
    const output = path.join(dir, 'out.jsonl');
    const handle = await env.client.workflow.signalWithStart(batchJob, {
      taskQueue: config.taskQueue,
      workflowId: 'signal-at-start',
      args: [{ input: writeJobInput(dir, 4, 'sas'), output, poll: { initial: '1s', max: '1s' } }],
      signal: chunkProgressSignal,
      signalArgs: [{ chunkId: 'r0-c0001', status: 'in_progress' }],
    });
    const stuck = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the job did not finish within 60 s')), 60_000).unref(),
    );
    await Promise.race([handle.result(), stuck]);
    assertExactOutput(readOutput(output), idsOf(4, 'sas'));
  });

  it('carries the job and its chunks across runs, and finishes exactly', async () => {
    const before = (await em.stats()).batches.created;
    const dir = jobDir();
    const output = path.join(dir, 'out.jsonl');
    const handle = await env.client.workflow.start(batchJob, {
      taskQueue: config.taskQueue,
      workflowId: 'long-polls',
      args: [
        {
          input: writeJobInput(dir, 400, 'can'),
          output,
          chunk: { maxRequests: 200 },
          poll: { initial: '1s', max: '1s' },
        },
      ],
    });
    await handle.result();
    assertExactOutput(readOutput(output), idsOf(400, 'can'));
    const runs = async (id: string) => {
      let n = 0;
      for await (const _ of env.client.workflow.list({ query: `WorkflowId = '${id}'` })) n++;
      return n;
    };
    assert.ok((await runs('long-polls/r0-c0001')) >= 2, 'the chunk continued as new while polling');
    assert.ok((await runs('long-polls')) >= 2, 'the job continued as new while waiting for its chunks');
    const status = await handle.query(statusQuery);
    assert.equal(status.phase, 'completed');
    assert.equal(status.error, null, 'continuing as new is not a failure');
    assert.deepEqual(
      status.chunks.map((c) => c.status),
      ['done', 'done'],
    );
    assert.equal((await em.stats()).batches.created - before, 2, 'no chunk was submitted again by a later run');
  });
});
