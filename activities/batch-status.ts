import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import type { BatchStatus } from '../shared/job-types.js';
import type { ActivityDeps } from './deps.js';
import { apiClockAheadMs } from '../shared/api-clock.js';
import { pollLag } from './metrics.js';

/** How long after a create a 404 is taken as "not visible yet" (the API is eventually consistent) rather than gone. */
const NEW_BATCH_GRACE_MS = 5 * 60_000;

export interface PollArgs {
  batchId: string;
  /** Wall-clock time the worker recorded the submit (not the API's created_at, whose clock may differ). */
  submittedAt: number;
}

export function batchStatusActivities(deps: ActivityDeps) {
  const retrieve = async ({ batchId, submittedAt }: PollArgs): Promise<BatchStatus> => {
    try {
      const { data: b, response } = await deps.anthropic.messages.batches.retrieve(batchId).withResponse();
      const ahead = apiClockAheadMs(response.headers.get('date'), Date.now());
      return {
        status: b.processing_status,
        counts: b.request_counts,
        expiresAt: b.expires_at,
        endedAt: b.ended_at,
        polledAt: activityInfo().currentAttemptScheduledTimestampMs,
        ...(ahead !== 0 ? { apiClockAheadMs: ahead } : {}),
      };
    } catch (err) {
      if (err instanceof NotFoundError && Date.now() - submittedAt < NEW_BATCH_GRACE_MS)
        throw ApplicationFailure.create({
          message: `batch ${batchId} is not visible yet`,
          type: 'BatchNotVisibleYet',
          nextRetryDelay: 2000,
        });
      if (err instanceof NotFoundError)
        throw ApplicationFailure.nonRetryable(
          `batch ${batchId} no longer exists (deleted outside this job?)`,
          'BatchNotFound',
        );
      throw err;
    }
  };

  return {
    /** One `retrieve`: the workflow sleeps between polls (durable timers), so a poll is a short activity. */
    pollBatch: (args: PollArgs) => {
      pollLag.observe(Math.max(0, Date.now() - activityInfo().currentAttemptScheduledTimestampMs) / 1000);
      return retrieve(args);
    },

    /** Cancels a batch; a batch that already ended is left as it is. */
    async cancelBatch(args: PollArgs): Promise<BatchStatus> {
      try {
        await deps.anthropic.messages.batches.cancel(args.batchId);
      } catch (err) {
        if (!(err instanceof BadRequestError)) throw err;
      }
      return retrieve(args);
    },
  };
}
