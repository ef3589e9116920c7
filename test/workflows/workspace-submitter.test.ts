import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { activityInfo } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityInterceptors } from '@temporalio/worker';
import { batchJob } from '../../workflows/index.js';
import { workspaceFingerprint } from '../../activities/workspace-fingerprint.js';
import { submitterWorkflowId } from '../../shared/submission.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';
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
    // Each create takes a while on the API's side, so overlapping creates would surely be seen overlapping.
    await em.setFaults({ http: [{ endpoint: 'create', delayMs: 300 }] });
    const creates: { start: number; end: number; chunk: string }[] = [];
    const timing = (): ActivityInterceptors => ({
      inbound: {
        async execute(input, next) {
          if (activityInfo().activityType !== 'submitBatch') return next(input);
          const start = Date.now();
          try {
            return await next(input);
          } finally {
            const { chunk, jobId } = input.args[0] as { jobId: string; chunk: { id: string } };
            creates.push({ start, end: Date.now(), chunk: `${jobId}/${chunk.id}` });
          }
        },
      },
    });
    const config = testWorkerConfig(em.url, { taskQueue: 'submitter-serial' });
    const worker = await runTestWorker(env, config, { activity: [timing] });
    try {
      const jobs = ['serial-a', 'serial-b'].map((name) => {
        const dir = jobDir();
        return { name, output: path.join(dir, 'out.jsonl'), input: writeJobInput(dir, 30, name) };
      });
      await Promise.all(
        jobs.map((j) =>
          env.client.workflow.execute(batchJob, {
            taskQueue: config.taskQueue,
            workflowId: j.name,
            args: [
              { input: j.input, output: j.output, chunk: { maxRequests: 10 }, poll: { initial: '1s', max: '1s' } },
            ],
          }),
        ),
      );
      for (const j of jobs) assertExactOutput(readOutput(j.output), idsOf(30, j.name));

      assert.equal(creates.length, 6, creates.map((c) => c.chunk).join(', '));
      const ordered = [...creates].sort((x, y) => x.start - y.start);
      for (let i = 1; i < ordered.length; i++)
        assert.ok(
          ordered[i]!.start >= ordered[i - 1]!.end,
          `${ordered[i]!.chunk} began before ${ordered[i - 1]!.chunk} had ended`,
        );
      assert.ok(new Set(creates.map((c) => c.chunk.split('/')[0])).size === 2, 'both jobs went through it');

      const id = submitterWorkflowId(workspaceFingerprint(em.url, TEST_KEY));
      const submitter = env.client.workflow.getHandle(id);
      assert.equal((await submitter.describe()).type, 'workspaceSubmitter');
      const history = JSON.stringify(await submitter.fetchHistory());
      assert.ok(history.includes('submitChunk'), 'chunks reached it by update');
      assert.ok(!history.includes(TEST_KEY) && !id.includes(TEST_KEY), 'the key is in neither its id nor its history');
    } finally {
      await em.setFaults({});
      await worker.stop();
    }
  });
});
