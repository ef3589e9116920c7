/**
 * An example of a user's own workflow that runs a claude-batch job as one step: prepare the requests → the batch
 * job (a child workflow run by the claude-batch worker) → summarize the results. Only this file is bundled by the
 * pipeline's worker; `claude-batch` is imported the way a user's code would import it.
 */
import { proxyActivities } from '@temporalio/workflow';
import { executeBatchJob, type JobInputRaw, type JobReportSummary } from 'claude-batch';
import type * as activities from './activities.js';

export interface TicketPipelineInput {
  /** A directory both workers reach (the claude-batch worker must allow it: `CLAUDE_BATCH_ALLOWED_ROOTS`). */
  dir: string;
  /** How many synthetic support tickets to classify. */
  tickets: number;
  model?: string;
  /** Settings of the batch job besides its files (poll, approval, chunk, retry…). */
  job?: Omit<JobInputRaw, 'input' | 'output'>;
  /** The task queue of the claude-batch worker; default `claude-batch`. */
  taskQueue?: string;
}

export interface TicketPipelineResult {
  job: JobReportSummary;
  summary: activities.TicketSummary;
}

const { prepareTickets, summarizeResults } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** Classify support tickets with Claude through the Message Batches API, and count them per label. */
export async function ticketPipeline(input: TicketPipelineInput): Promise<TicketPipelineResult> {
  const prepared = await prepareTickets({ dir: input.dir, count: input.tickets, model: input.model });
  const job = await executeBatchJob(
    { ...input.job, input: prepared.requestsFile, output: `${prepared.dir}/results.jsonl` },
    input.taskQueue ? { taskQueue: input.taskQueue } : {},
  );
  const summary = await summarizeResults({ output: job.outputUri, summaryFile: `${prepared.dir}/summary.json` });
  return { job, summary };
}
