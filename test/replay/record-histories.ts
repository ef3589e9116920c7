/**
 * Records the histories that `replay.test.ts` replays: one small run of each workflow type through its phases, on a
 * dev server and the emulator, written as JSON (the form the UI and `temporal workflow show` export) to
 * test/replay/histories/<label>/. Run it on the *released* build — a checkout of the release commit — so the
 * replay test tells whether today's workflow code can still continue jobs that release started:
 *
 *   git worktree add /tmp/release <tag> && cd /tmp/release && npm ci && npm run build
 *   cp <this file> test/replay/ && npx tsc -p tsconfig.json && node dist/test/replay/record-histories.js <label> <out dir>
 *
 * It only uses what every release has (the test helpers, the workflow type names, the `approve` update), so it
 * compiles against older builds too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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

  // The dry run.
  const estimate = await start('estimate', 'estimateJob', {
    input: writeJobInput(dir, 3, 'e', 'estimate.jsonl'),
    output: path.join(dir, 'estimate-out.jsonl'),
  });
  await estimate.result();
  await save('estimateJob', estimate);
  const manifest = { release: label, recorded: new Date().toISOString().slice(0, 10), workflowIds };
  writeFileSync(path.join(target, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
} finally {
  await worker.stop();
  await em.close();
  await env.teardown();
}
