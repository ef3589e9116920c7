import { Context, heartbeat } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, type Duration, type Workflow } from '@temporalio/common';
import type { SubmittedBatch } from '../shared/job-types.js';
import {
  SUBMIT_CHUNK_UPDATE,
  SUBMITTER_WORKFLOW_TYPE,
  submissionKey,
  submitterWorkflowId,
  type SubmitArgs,
} from '../shared/submission.js';
import type { ActivityDeps } from './deps.js';
import { submissionsWaiting } from './metrics.js';

/** The innermost application failure of an update that failed: what the submitter's `submitBatch` threw. */
function rootFailure(err: unknown): ApplicationFailure | null {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof ApplicationFailure) return e;
    e = e.cause;
  }
  return null;
}

/**
 * Hands a chunk to its workspace's submitter (starting it if none runs) and waits for the batch. The update id
 * names the chunk, so a retry of this activity after its worker died waits for the same submission instead of
 * queueing a second one; and a submission the submitter already made is answered from its record.
 */
export function submitInOrderActivities(deps: ActivityDeps) {
  return {
    async submitInOrder(args: SubmitArgs & { heartbeatTimeout: Duration }): Promise<SubmittedBatch> {
      const { client, info } = Context.current();
      const beat = setInterval(() => heartbeat({ phase: 'waiting for the workspace submitter' }), 2000);
      submissionsWaiting.inc();
      try {
        return await client.workflow.executeUpdateWithStart<Workflow, SubmittedBatch, [typeof args]>(
          SUBMIT_CHUNK_UPDATE,
          {
            args: [args],
            updateId: submissionKey(args),
            startWorkflowOperation: new WithStartWorkflowOperation<Workflow>(SUBMITTER_WORKFLOW_TYPE, {
              workflowId: submitterWorkflowId(deps.workspaceFingerprint),
              taskQueue: info.taskQueue,
              workflowIdConflictPolicy: 'USE_EXISTING',
              args: [],
            }),
          },
        );
      } catch (err) {
        const root = err instanceof WorkflowUpdateFailedError ? rootFailure(err) : null;
        // The submitter retries every failure worth retrying itself: what reaches us is final.
        if (root)
          throw ApplicationFailure.create({
            message: root.message,
            type: root.type ?? undefined,
            nonRetryable: true,
            category: root.category ?? undefined,
          });
        throw err;
      } finally {
        clearInterval(beat);
        submissionsWaiting.dec();
      }
    },
  };
}
