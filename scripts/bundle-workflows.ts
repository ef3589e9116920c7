/**
 * Part of `npm run build`: bundles the workflow code once (webpack, as the worker would at every start), so
 * workers, `claude-batch dev` and the demo start in a second. The bundle is build output (git-ignored dist/).
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundlePath, workflowsPath } from '../worker/create-worker.js';

const { code } = await bundleWorkflowCode({
  workflowsPath,
  logger: { info() {}, warn: console.warn, error: console.error, debug() {}, trace() {}, log() {} } as never,
});
writeFileSync(workflowBundlePath, code);
