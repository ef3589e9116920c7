/**
 * The package entry (`import … from 'claude-batch'`): what a user's own Temporal code needs to run batch jobs.
 * Workflow-safe — no Node built-ins, no I/O — so it may be imported from workflow code (it ends up in workflow
 * bundles); the lint rules of workflows/ enforce that. The worker that runs jobs is `claude-batch/worker`.
 */
export { batchJob, type BatchJobInput } from './batch-job.js';
export {
  executeBatchJob,
  batchJobWorkflowId,
  BATCH_JOB_WORKFLOW_TYPE,
  DEFAULT_TASK_QUEUE,
  type ExecuteBatchJobOptions,
} from './execute-batch-job.js';
export { statusQuery, approveUpdate, rejectUpdate, type ApprovalDecision, type JobStatusView } from './messages.js';
export type { JobInput, JobInputRaw } from '../shared/job-input.js';
export type { JobReportSummary } from '../shared/job-types.js';
export type { Approval } from '../shared/job-state.js';
