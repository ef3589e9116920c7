import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { BatchActivities } from '../activities/index.js';
import { CreateSlot } from '../shared/create-slot.js';
import type { SubmittedBatch } from '../shared/job-types.js';
import { submissionKey } from '../shared/submission.js';
import { createSlotUpdate, submitChunkUpdate, type SubmitChunkRequest } from './messages.js';

/**
 * The patch after which held creates run side by side, each taking the create slot only for its last bytes, instead
 * of one at a time in the queue (see docs/job.md, upgrading). Submitters that served a held create before it keep
 * queueing theirs (their histories say so).
 */
export const HELD_SIDE_BY_SIDE_PATCH = 'held-side-by-side-2026-12';

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
 *
 * Held creates (shared/early-create.ts) upload while their jobs still validate, for as long as that takes: they run
 * side by side, outside the queue, and each takes the create slot (shared/create-slot.ts) only for its last bytes
 * and its answer — an unfinished body creates nothing, so the rule above still holds.
 */
export async function workspaceSubmitter(): Promise<void> {
  const queue: { request: SubmitChunkRequest; done: (b: SubmittedBatch) => void; fail: (e: unknown) => void }[] = [];
  let served = 0;
  const slot = new CreateSlot();
  /** Held creates running side by side, by submission key, until their activity settles. */
  const beside = new Set<string>();

  const activitiesFor = (request: SubmitChunkRequest) =>
    proxyActivities<BatchActivities>({
      startToCloseTimeout: '2h',
      heartbeatTimeout: request.heartbeatTimeout as Duration,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
    });

  /** A held create beside the queue: it holds the slot, once it asks for it, until its activity settles. */
  async function submitBeside(request: SubmitChunkRequest): Promise<SubmittedBatch> {
    const key = submissionKey(request);
    const { heartbeatTimeout: _timeout, ...args } = request;
    beside.add(key);
    try {
      return await activitiesFor(request).submitBatch({ ...args, slot: true });
    } finally {
      beside.delete(key);
      slot.leave(key);
    }
  }

  setHandler(
    submitChunkUpdate,
    (request) =>
      request.held && patched(HELD_SIDE_BY_SIDE_PATCH)
        ? submitBeside(request)
        : new Promise<SubmittedBatch>((done, fail) => {
            queue.push({ request, done, fail });
          }),
    {
      validator: (request) => {
        if (!request?.chunk?.id || !request.jobDir || !request.jobId) throw new Error('not a chunk submission');
      },
    },
  );

  setHandler(
    createSlotUpdate,
    async (key) => {
      slot.ask(key);
      await condition(() => !beside.has(key) || slot.mayTake(key));
      // Its activity settled while it waited (it gave up): the place in line went with it.
      if (!beside.has(key)) throw ApplicationFailure.nonRetryable(`${key} no longer creates`, 'NotCreating');
      slot.take(key);
    },
    {
      validator: (key) => {
        if (!beside.has(key)) throw new Error(`${key} is not a held create running in this submitter`);
      },
    },
  );

  for (;;) {
    if (!(await condition(() => queue.length > 0, IDLE_TIMEOUT))) {
      if (allHandlersFinished()) return;
      continue;
    }
    const next = queue.shift()!;
    const { heartbeatTimeout: _timeout, ...args } = next.request;
    const key = submissionKey(args);
    // Waits only while a held create finishes beside the queue (never in a submitter without any: its history
    // replays as it was).
    slot.ask(key);
    if (!slot.mayTake(key)) await condition(() => slot.mayTake(key));
    slot.take(key);
    try {
      next.done(await activitiesFor(next.request).submitBatch(args));
    } catch (err) {
      next.fail(err);
    } finally {
      slot.leave(key);
    }
    served++;
    // Starts afresh only between submissions, so a create is never cut in two and no queued chunk is dropped.
    if (queue.length === 0 && (served >= MAX_SERVED_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      await condition(() => allHandlersFinished() || queue.length > 0);
      if (queue.length === 0) await continueAsNew<typeof workspaceSubmitter>();
    }
  }
}
