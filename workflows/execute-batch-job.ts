import { executeChild, ParentClosePolicy, workflowInfo, type ChildWorkflowOptions } from '@temporalio/workflow';
import type { JobInputRaw } from '../shared/job-input.js';
import type { JobReportSummary } from '../shared/job-types.js';
import type { batchJob } from './batch-job.js';

import { DEFAULT_TASK_QUEUE } from '../shared/task-queue.js';

export { DEFAULT_TASK_QUEUE };
/** The workflow type of a job, as registered by the `claude-batch` worker. */
export const BATCH_JOB_WORKFLOW_TYPE = 'batchJob';

export interface ExecuteBatchJobOptions extends Omit<ChildWorkflowOptions, 'args' | 'taskQueue' | 'workflowId'> {
  /** The queue a `claude-batch` worker serves. Default: `claude-batch`. */
  taskQueue?: string;
  /** The job's workflow id. Default: `<parent workflow id>/batch-job`, or `…/batch-job-<idSuffix>`. */
  workflowId?: string;
  /** Tells apart several jobs of one parent when `workflowId` is not given (e.g. `"round-2"`). */
  idSuffix?: string;
}

/** The id `executeBatchJob` gives the job when none is given: derived from the calling workflow's id. */
export function batchJobWorkflowId(idSuffix?: string): string {
  return `${workflowInfo().workflowId}/batch-job${idSuffix ? `-${idSuffix}` : ''}`;
}

/**
 * Runs a batch job as a child of the calling workflow and returns its summary (output and report URIs, lines,
 * outcomes, cost). The child is started by type name, so the caller's worker needs none of claude-batch's
 * activities: a `claude-batch` worker on `taskQueue` runs it. Files are exchanged through storage both workers
 * reach (`input` must exist there; `output` is written there).
 *
 * Defaults: the id derives from the parent's (one job per parent at a time: Temporal refuses a second start of a
 * running id, and the job is easy to find next to its parent); a parent that closes (terminated, timed out) asks
 * the job to cancel, which cancels its open batches and still writes the output, instead of killing it with paid
 * batches left running (`parentClosePolicy` overrides); canceling the parent waits until the job has finalized.
 */
export async function executeBatchJob(
  input: JobInputRaw,
  options: ExecuteBatchJobOptions = {},
): Promise<JobReportSummary> {
  const { taskQueue, workflowId, idSuffix, ...rest } = options;
  return executeChild<typeof batchJob>(BATCH_JOB_WORKFLOW_TYPE, {
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `claude-batch job: ${input.input} → ${input.output}`,
    ...rest,
    taskQueue: taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: workflowId ?? batchJobWorkflowId(idSuffix),
    args: [input],
  });
}
