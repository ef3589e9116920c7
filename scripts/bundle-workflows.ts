/**
 * Part of `npm run build`: bundles the workflow code once (webpack, as the worker would at every start), so
 * workers, `claude-batch dev` and the demo start in a second. The bundle is build output (git-ignored dist/).
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundlePath, workflowsPath } from '../worker/create-worker.js';

const { code } = await bundleWorkflowCode({
  workflowsPath,
  // A worker holds the bundle as strings in its main thread and again in its workflow thread, for as long as it
  // runs. The source map's copy of every source (sourcesContent, a third of the bundle) is read only by the stack
  // trace query with `showStackTraceSources`, which the worker leaves off; the mappings, which turn a workflow's
  // stack trace into source lines, stay.
  webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
  logger: { info() {}, warn: console.warn, error: console.error, debug() {}, trace() {}, log() {} } as never,
});
// V8 stores a string with any character beyond Latin-1 at two bytes a character: a few dashes and arrows in
// comments and messages doubled the bundle's size in memory. Escaped, they mean the same in strings, templates,
// regular expressions and comments; only columns after them on their line shift in stack traces.
writeFileSync(
  workflowBundlePath,
  code.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);
