import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { packageRoot } from '../../config/load.js';
import { workflowBundle } from '../helpers/temporal.js';

/**
 * Jobs live for days and workers are upgraded meanwhile: today's workflow code must replay the histories of jobs
 * that an earlier release started, or those jobs break with a non-determinism error. The histories were recorded
 * from released builds (test/replay/record-histories.ts); a change that breaks one of them needs a `patched()`.
 */
const root = path.join(packageRoot, 'test', 'replay', 'histories');
const releases = readdirSync(root).sort();

describe('replaying histories recorded from released versions', () => {
  it('has histories of every workflow type to replay', () => {
    const files = releases.flatMap((r) => readdirSync(path.join(root, r)).filter((f) => f !== 'manifest.json'));
    for (const type of ['batchJob', 'batchChunk', 'estimateJob', 'workspaceSubmitter', 'checkJobFiles'])
      assert.ok(
        files.some((f) => f.startsWith(`${type}-`) || f === `${type}.json`),
        `a recorded ${type} history`,
      );
  });

  for (const release of releases) {
    // Child workflow ids derive from the job's id, so each history replays under the id it ran with.
    const { workflowIds } = JSON.parse(readFileSync(path.join(root, release, 'manifest.json'), 'utf8')) as {
      workflowIds: Record<string, string>;
    };
    for (const [file, workflowId] of Object.entries(workflowIds).sort())
      it(`${release}/${file} replays on today's code`, async () => {
        const history: unknown = JSON.parse(readFileSync(path.join(root, release, file), 'utf8'));
        await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history as never, workflowId);
      });
  }
});
