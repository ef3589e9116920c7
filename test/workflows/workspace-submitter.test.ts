import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { activityInfo } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityInterceptors } from '@temporalio/worker';
import { batchJob } from '../../workflows/index.js';
import { workspaceFingerprint } from '../../activities/workspace-fingerprint.js';
import { submitterWorkflowId } from '../../shared/submission.js';
import {
  assertOneCreateInFlight,
  recordCreates,
  startTestEmulator,
  TEST_KEY,
  type EmulatorHarness,
} from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';

describe('the workspace submitter: one create at a time per workspace, across jobs', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  before(async () => {
    env = await startDevServer();
    em = await startTestEmulator({ timeScale: 3600 });
  });
  after(async () => {
    await em?.close();
    await env?.teardown();
  });

  it('names a workspace by a fingerprint: never the key, the same for keys an operator names as one workspace', () => {
    const a = workspaceFingerprint('https://api.anthropic.com', 'sk-ant-a');
    assert.match(a, /^[0-9a-f]{20}$/);
    assert.notEqual(a, workspaceFingerprint('https://api.anthropic.com', 'sk-ant-b'));
    assert.notEqual(a, workspaceFingerprint('https://emulator.local', 'sk-ant-a'));
    assert.equal(
      workspaceFingerprint('https://api.anthropic.com/', 'sk-ant-a', 'team-nightly'),
      workspaceFingerprint('https://api.anthropic.com', 'sk-ant-b', 'team-nightly'),
    );
  });

  it('two jobs of three chunks each: six creates, never two at once, each job exact', async () => {
    // Each create is answered a while after its body ends, so creates in flight together would surely be seen so.
    await em.setFaults({ http: [{ endpoint: 'create', delayAfterMs: 300 }] });
    const seen = recordCreates(em);
    const creates: { start: number; end: number; chunk: string; held: boolean }[] = [];
    const timing = (): ActivityInterceptors => ({
      inbound: {
        async execute(input, next) {
          if (activityInfo().activityType !== 'submitBatch') return next(input);
          const start = Date.now();
          try {
            return await next(input);
          } finally {
            const { chunk, jobId, held } = input.args[0] as { jobId: string; chunk: { id: string }; held?: true };
            creates.push({ start, end: Date.now(), chunk: `${jobId}/${chunk.id}`, held: !!held });
          }
        },
      },
    });
    const config = testWorkerConfig(em.url, { taskQueue: 'submitter-serial' });
    const worker = await runTestWorker(env, config, { activity: [timing] });
    try {
      // serial-a lets one chunk wait in the API's queue at a time, so it streams only its first early and submits
      // the others the usual way; serial-b lets all three wait, so all three are held creates.
      const jobs = [
        { name: 'serial-a', admission: { maxQueuedRequests: 10 } },
        { name: 'serial-b', admission: {} },
      ].map(({ name, admission }) => {
        const dir = jobDir();
        return { name, admission, output: path.join(dir, 'out.jsonl'), input: writeJobInput(dir, 30, name) };
      });
      await Promise.all(
        jobs.map((j) =>
          env.client.workflow.execute(batchJob, {
            taskQueue: config.taskQueue,
            workflowId: j.name,
            args: [
              {
                input: j.input,
                output: j.output,
                chunk: { maxRequests: 10 },
                admission: j.admission,
                poll: { initial: '1s', max: '1s' },
              },
            ],
          }),
        ),
      );
      for (const j of jobs) assertExactOutput(readOutput(j.output), idsOf(30, j.name));

      // Held creates upload side by side, usual ones one at a time; each is created, and never two are in flight
      // at once, within a job or across the two.
      assert.deepEqual(creates.map((c) => `${c.chunk}${c.held ? ' held' : ''}`).sort(), [
        'serial-a/r0-c0001 held',
        'serial-a/r0-c0002',
        'serial-a/r0-c0003',
        'serial-b/r0-c0001 held',
        'serial-b/r0-c0002 held',
        'serial-b/r0-c0003 held',
      ]);
      assert.equal(seen.creates.filter((c) => c.batchId).length, 6);
      assertOneCreateInFlight(seen.creates, 300);
      const uploads = [...seen.creates].sort((x, y) => x.arrivedAt - y.arrivedAt);
      assert.ok(
        uploads.some((c, i) => i > 0 && c.arrivedAt < uploads[i - 1]!.bodyEndedAt),
        'held uploads ran side by side',
      );
      assert.ok(new Set(creates.map((c) => c.chunk.split('/')[0])).size === 2, 'both jobs went through it');

      const id = submitterWorkflowId(workspaceFingerprint(em.url, TEST_KEY));
      const submitter = env.client.workflow.getHandle(id);
      assert.equal((await submitter.describe()).type, 'workspaceSubmitter');
      const history = JSON.stringify(await submitter.fetchHistory());
      assert.ok(history.includes('submitChunk'), 'chunks reached it by update');
      assert.ok(!history.includes(TEST_KEY) && !id.includes(TEST_KEY), 'the key is in neither its id nor its history');
    } finally {
      seen.stop();
      await em.setFaults({});
      await worker.stop();
    }
  });
});
