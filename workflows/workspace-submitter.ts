import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { BatchActivities } from '../activities/index.js';
import type { SubmittedBatch } from '../shared/job-types.js';
import { submitChunkUpdate, type SubmitChunkRequest } from './messages.js';

/** With nothing to submit for this long, the submitter ends; the next submission starts a new one. */
const IDLE_TIMEOUT = '10m';
/** A run's history stays small: it starts afresh after this many submissions. */
const MAX_SERVED_PER_RUN = 200;

/**
 * The one place a deployment creates batches on one Anthropic workspace: chunks of every job reach it by Update
 * and it creates one batch at a time, in arrival order. So at most one create is ever in flight per workspace
 * (within this Temporal namespace), and after a lost answer reconciliation has exactly one create of ours to
 * account for: any other batch in the window was made by someone else. Its workflow id carries a fingerprint of
 * the workspace, never the key (see activities/workspace-fingerprint.ts).
 */
export async function workspaceSubmitter(): Promise<void> {
  const queue: { request: SubmitChunkRequest; done: (b: SubmittedBatch) => void; fail: (e: unknown) => void }[] = [];
  let served = 0;

  setHandler(
    submitChunkUpdate,
    (request) =>
      new Promise<SubmittedBatch>((done, fail) => {
        queue.push({ request, done, fail });
      }),
    {
      validator: (request) => {
        if (!request?.chunk?.id || !request.jobDir || !request.jobId) throw new Error('not a chunk submission');
      },
    },
  );

  for (;;) {
    if (!(await condition(() => queue.length > 0, IDLE_TIMEOUT))) {
      if (allHandlersFinished()) return;
      continue;
    }
    const next = queue.shift()!;
    const { heartbeatTimeout, ...args } = next.request;
    const acts = proxyActivities<BatchActivities>({
      startToCloseTimeout: '2h',
      heartbeatTimeout: heartbeatTimeout as Duration,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
    });
    try {
      next.done(await acts.submitBatch(args));
    } catch (err) {
      next.fail(err);
    }
    served++;
    // Starts afresh only between submissions, so a create is never cut in two and no queued chunk is dropped.
    if (queue.length === 0 && (served >= MAX_SERVED_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      await condition(() => allHandlersFinished() || queue.length > 0);
      if (queue.length === 0) await continueAsNew<typeof workspaceSubmitter>();
    }
  }
}
