/**
 * Records the histories that `replay.test.ts` replays: one small run of each workflow type through its phases, on a
 * dev server and the emulator, written as JSON (the form the UI and `temporal workflow show` export) to
 * test/replay/histories/<label>/. Run it on the *released* build — a checkout of the release commit — so the
 * replay test tells whether today's workflow code can still continue jobs that release started:
 *
 *   git worktree add /tmp/release <tag> && cd /tmp/release && npm ci && npm run build
 *   cp <this file> test/replay/ && npx tsc -p tsconfig.json && node dist/test/replay/record-histories.js <label> <out dir>
 *
 * RECORD_FROM_0_2=1, RECORD_FROM_0_3=1 and RECORD_FROM_0_4=1 add the runs that only those releases and later can make.
 *
 * It only uses what every release has (the test helpers, the workflow type names, the `approve` update), so it
 * compiles against older builds too.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { WorkflowHandle } from '@temporalio/client';
import { approveUpdate } from '../../workflows/messages.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { jobDir, writeJobInput } from '../helpers/jobs.js';
import { runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';

const [label, outDir] = process.argv.slice(2);
if (!label || !outDir) {
  console.error('usage: record-histories <label> <out dir>');
  process.exit(2);
}
const target = path.join(outDir, label);
mkdirSync(target, { recursive: true });

const env = await startDevServer();
const em = await startTestEmulator({
  processing: { baseLatencyMs: 0, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
});
const dir = jobDir();
const config = testWorkerConfig(em.url, { allowedRoots: [dir] });
const worker = await runTestWorker(env, config);
const poll = { initial: '1s', max: '2s' };

const workflowIds: Record<string, string> = {};
async function save(name: string, handle: WorkflowHandle): Promise<void> {
  const history = await handle.fetchHistory();
  writeFileSync(path.join(target, `${name}.json`), historyToJSON(history));
  workflowIds[`${name}.json`] = handle.workflowId;
  console.log(`${name}: ${history.events?.length ?? 0} events`);
}

const start = (id: string, workflowType: string, input: Record<string, unknown>) =>
  env.client.workflow.start(workflowType, { workflowId: id, taskQueue: config.taskQueue, args: [input] });

try {
  // Two chunks, completed: the job and each chunk child.
  const completed = await start('completed', 'batchJob', {
    input: writeJobInput(dir, 4, 'c', 'completed.jsonl'),
    output: path.join(dir, 'completed-out.jsonl'),
    chunk: { maxRequests: 2 },
    poll,
  });
  await completed.result();
  await save('batchJob-completed', completed);
  await save('batchChunk-completed-r0-c0001', env.client.workflow.getHandle('completed/r0-c0001'));
  // From 0.4 on both chunks are early ones (the admission lets both wait at once): the second's held create is
  // released once the first's batch exists.
  if (process.env.RECORD_FROM_0_4 === '1')
    await save('batchChunk-completed-r0-c0002', env.client.workflow.getHandle('completed/r0-c0002'));

  // Waits for approval, is approved by an update, then runs.
  const approved = await start('approved', 'batchJob', {
    input: writeJobInput(dir, 2, 'a', 'approved.jsonl'),
    output: path.join(dir, 'approved-out.jsonl'),
    approval: { thresholdUsd: 0 },
    poll,
  });
  for (;;) {
    const d = await approved.describe();
    const memo = ((await d.memo) ?? {}) as { phase?: string };
    if (memo.phase === 'awaiting_approval') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await approved.executeUpdate(approveUpdate, { args: [{ by: 'recorder' }] });
  await approved.result();
  await save('batchJob-approved', approved);
  // From 0.3 on its chunk is an early one: started during prepare, its held create withdrawn while the job waited
  // for approval, then released and submitted the usual way.
  if (process.env.RECORD_FROM_0_3 === '1')
    await save('batchChunk-approved-r0-c0001', env.client.workflow.getHandle('approved/r0-c0001'));

  // Rejected for its invalid lines (fails before any create).
  const invalidInput = path.join(dir, 'invalid.jsonl');
  writeFileSync(invalidInput, '{"custom_id": "has space", "params": {}}\n');
  const invalid = await start('invalid', 'batchJob', {
    input: invalidInput,
    output: path.join(dir, 'invalid-out.jsonl'),
  });
  await invalid.result().catch(() => undefined);
  await save('batchJob-invalid-lines', invalid);

  // An empty input: a release without "nothing to submit" completed it with an empty output.
  const emptyInput = path.join(dir, 'empty.jsonl');
  writeFileSync(emptyInput, '');
  const empty = await start('empty', 'batchJob', { input: emptyInput, output: path.join(dir, 'empty-out.jsonl') });
  await empty.result().catch(() => undefined);
  await save('batchJob-empty-input', empty);

  // From 0.2 on: the pilot, a budget that holds batches back, a deadline's synchronous round, a cancel, the
  // workspace's submitter and a Schedule's file check. A build before 0.2 refuses these inputs: record them only
  // from 0.2 on (RECORD_FROM_0_2=1).
  if (process.env.RECORD_FROM_0_2 === '1') await recordFrom02();
  if (process.env.RECORD_FROM_0_3 === '1') await recordFrom03();

  // The dry run.
  const estimate = await start('estimate', 'estimateJob', {
    input: writeJobInput(dir, 3, 'e', 'estimate.jsonl'),
    output: path.join(dir, 'estimate-out.jsonl'),
  });
  await estimate.result();
  await save('estimateJob', estimate);

  async function recordFrom03(): Promise<void> {
    // An invalid line after the first chunk: its early child, its create held, is dropped (canceled) as the job fails.
    const lateInput = writeJobInput(dir, 3, 'l', 'late-invalid.jsonl');
    writeFileSync(lateInput, readFileSync(lateInput, 'utf8') + '{"custom_id": "has space", "params": {}}\n');
    const late = await start('late-invalid', 'batchJob', {
      input: lateInput,
      output: path.join(dir, 'late-invalid-out.jsonl'),
      chunk: { maxRequests: 2 },
      poll,
    });
    await late.result().catch(() => undefined);
    await save('batchJob-invalid-after-early-chunk', late);
    const dropped = env.client.workflow.getHandle('late-invalid/r0-c0001');
    // It may be dropped before it even asked for its create, or while that create waited: either way it ends.
    for (let i = 0; i < 150 && (await dropped.describe()).status.name === 'RUNNING'; i++)
      await new Promise((r) => setTimeout(r, 200));
    await save('batchChunk-early-dropped-r0-c0001', dropped);
  }

  async function recordFrom02(): Promise<void> {
    // A pilot of 3 answered synchronously before the estimate, the rest in one batch.
    const pilot = await start('pilot', 'batchJob', {
      input: writeJobInput(dir, 8, 'p', 'pilot.jsonl'),
      output: path.join(dir, 'pilot-out.jsonl'),
      pilot: { size: 3, minRequests: 5 },
      poll,
    });
    await pilot.result();
    await save('batchJob-pilot', pilot);
    // The submitter has served every job so far; it is still running (it ends after 10 idle minutes).
    const submitters: string[] = [];
    for await (const wf of env.client.workflow.list({ query: 'WorkflowType = "workspaceSubmitter"' }))
      submitters.push(wf.workflowId);
    if (submitters[0]) await save('workspaceSubmitter-serving', env.client.workflow.getHandle(submitters[0]));

    // A budget below the second batch's worst case: it is held back.
    const budget = await start('budget', 'batchJob', {
      input: writeJobInput(dir, 4, 'b', 'budget.jsonl'),
      output: path.join(dir, 'budget-out.jsonl'),
      chunk: { maxRequests: 2 },
      admission: { maxQueuedRequests: 100_000, maxConcurrentBatches: 1 },
      budget: { maxUsd: 0.0001 },
      poll,
    });
    await budget.result();
    await save('batchJob-budget-held-back', budget);

    // A deadline already inside its margin: the cutoff comes at once and everything is answered synchronously.
    const deadline = await start('deadline', 'batchJob', {
      input: writeJobInput(dir, 4, 'd', 'deadline.jsonl'),
      output: path.join(dir, 'deadline-out.jsonl'),
      deadline: { at: '10m', margin: '599s', concurrency: 2, requestSeconds: 1 },
      poll,
    });
    await deadline.result();
    await save('batchJob-deadline', deadline);

    // Canceled while its batch runs (a slow emulator): the batch is canceled, the job finalizes, ends canceled.
    const slow = await startTestEmulator({
      processing: { baseLatencyMs: 60_000, perRequestMs: 1000, spread: 0, cancelLatencyMs: 0 },
    });
    const slowConfig = testWorkerConfig(slow.url, { allowedRoots: [dir] });
    const slowWorker = await runTestWorker(env, slowConfig);
    try {
      const canceled = await env.client.workflow.start('batchJob', {
        workflowId: 'canceled',
        taskQueue: slowConfig.taskQueue,
        args: [
          { input: writeJobInput(dir, 2, 'x', 'canceled.jsonl'), output: path.join(dir, 'canceled-out.jsonl'), poll },
        ],
      });
      const child = env.client.workflow.getHandle('canceled/r0-c0001');
      // Until its batch is under way (the job's status query, as the CLI reads it).
      while (!JSON.stringify(await canceled.query('status').catch(() => null)).includes('"in_progress"'))
        await new Promise((r) => setTimeout(r, 200));
      await canceled.cancel();
      await canceled.result().catch(() => undefined);
      await save('batchJob-canceled', canceled);
      await save('batchChunk-canceled-r0-c0001', child);
    } finally {
      await slowWorker.stop();
      await slow.close();
    }

    // A Schedule's file check.
    const check = await start('check', 'checkJobFiles', {
      input: writeJobInput(dir, 1, 'k', 'check.jsonl'),
      output: path.join(dir, 'check-out-{date}.jsonl'),
    });
    await check.result();
    await save('checkJobFiles', check);
  }

  const manifest = { release: label, recorded: new Date().toISOString().slice(0, 10), workflowIds };
  writeFileSync(path.join(target, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
} finally {
  await worker.stop();
  await em.close();
  await env.teardown();
}
