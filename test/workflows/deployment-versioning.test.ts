import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob } from '../../workflows/index.js';
import { defaultBuildId } from '../../worker/create-worker.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

/**
 * Upgrading while jobs run, with Worker Deployment versioning: a job started on one build finishes on the next
 * once that build is made current (AUTO_UPGRADE), with the old build's workers gone.
 */
describe('worker deployment versioning (dev server)', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  before(async () => {
    env = await startDevServer();
    // Real time and slow: the batch is still running when the build changes.
    em = await startTestEmulator({
      timeScale: 1,
      processing: { baseLatencyMs: 4000, perRequestMs: 100, spread: 0, cancelLatencyMs: 0 },
    });
  });
  after(async () => {
    await em?.close();
    await env?.teardown();
  });

  /** Makes a build the deployment's current version, once its workers have registered it. */
  const makeCurrent = (deploymentName: string, buildId: string) =>
    until(
      () =>
        env.client.workflowService
          .setWorkerDeploymentCurrentVersion({ namespace: 'default', deploymentName, buildId })
          .then(() => true)
          .catch(() => false),
      `${buildId} registered and current`,
      30_000,
      200,
    );

  it('names the build by the workflow code it runs', () => {
    assert.match(defaultBuildId(), /^\d+\.\d+\.\d+-[0-9a-f]{12}$/);
  });

  it('a job started on build A finishes on build B after B becomes current and A is gone', async () => {
    const deployment = `cb-${Date.now()}`;
    const base = testWorkerConfig(em.url);
    const a = await runTestWorker(env, { ...base, deployment: { name: deployment, buildId: 'build-a' } });
    let b: Awaited<ReturnType<typeof runTestWorker>> | undefined;
    try {
      await makeCurrent(deployment, 'build-a');
      const dir = jobDir();
      const job = {
        input: writeJobInput(dir, 6, 'v'),
        output: path.join(dir, 'out.jsonl'),
        poll: { initial: '1s', max: '1s' },
      };
      const handle = await env.client.workflow.start(batchJob, {
        taskQueue: base.taskQueue,
        workflowId: `upgrade-${deployment}`,
        args: [job],
      });
      await until(
        async () => JSON.stringify(await handle.query('status')).includes('"in_progress"'),
        'the batch under way on build A',
      );
      const onA = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
      assert.equal(onA?.deploymentVersion?.buildId, 'build-a');
      await a.stop();

      b = await runTestWorker(env, { ...base, deployment: { name: deployment, buildId: 'build-b' } });
      await makeCurrent(deployment, 'build-b');
      await handle.result();
      assertExactOutput(readOutput(job.output), idsOf(6, 'v'));
      const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
      assert.equal(info?.deploymentVersion?.buildId, 'build-b', 'the job moved to the new build');
      assert.equal(String(info?.behavior), '2', 'AUTO_UPGRADE (VERSIONING_BEHAVIOR_AUTO_UPGRADE = 2)');
      const chunk = (await env.client.workflow.getHandle(`upgrade-${deployment}/r0-c0001`).describe()).raw
        .workflowExecutionInfo?.versioningInfo;
      assert.equal(chunk?.deploymentVersion?.buildId, 'build-b', 'its chunk too');
    } finally {
      await b?.stop();
      await a.stop().catch(() => undefined);
    }
  });
});
