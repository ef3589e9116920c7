import { CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BatchActivities } from '../activities/index.js';
import { approvalBasisUsd } from '../shared/approval.js';
import { jobInputOrFail, type JobInputRaw } from '../shared/job-input.js';
import type { Estimate, PreparedJob } from '../shared/job-types.js';
import { expandUriTemplate } from '../shared/uri-template.js';

export interface EstimateJobResult {
  input: string;
  lines: number;
  requests: number;
  chunks: number;
  invalid: PreparedJob['invalid'];
  models: string[];
  warnings?: string[];
  estimate: Estimate | null;
  /** Whether `batchJob` with the same input would wait for approval. */
  approvalRequired: boolean;
  thresholdUsd: number;
}

/**
 * A dry run of `batchJob`: the same validation and cost estimate, on the worker (which holds the API key that
 * count_tokens needs), and nothing submitted. Invalid lines are reported, never fatal, and the chunk files are
 * discarded afterwards (the invalid-lines report stays).
 */
export async function estimateJob(raw: JobInputRaw): Promise<EstimateJobResult> {
  const job = jobInputOrFail(raw);
  const { workflowId, startTime } = workflowInfo();
  const acts = proxyActivities<BatchActivities>({
    startToCloseTimeout: '2h',
    heartbeatTimeout: '5m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
  });
  const input = expandUriTemplate(job.input, startTime, workflowId);
  try {
    // A folder, a missing file or a path outside the allowed roots: one clear answer, no retries.
    if (patched('preflight-2026-12')) await acts.preflightJob({ input, overwrite: false });
    const prepared = await acts.prepareJob({
      jobId: workflowId,
      input,
      chunk: job.chunk,
      onInvalid: 'skip',
      format: job.format,
      template: job.template,
      ...(job.betas ? { betas: job.betas } : {}),
    });
    const estimate =
      prepared.requests > 0
        ? await acts.estimateCost({
            chunks: prepared.chunks,
            estimate: job.estimate,
            ...(job.prices ? { prices: job.prices } : {}),
          })
        : null;
    return {
      input,
      lines: prepared.lines,
      requests: prepared.requests,
      chunks: prepared.chunks.length,
      invalid: prepared.invalid,
      models: prepared.models,
      warnings: prepared.warnings ?? [],
      estimate,
      approvalRequired: approvalBasisUsd(estimate, job.approval.basis) > job.approval.thresholdUsd,
      thresholdUsd: job.approval.thresholdUsd,
    };
  } finally {
    await CancellationScope.nonCancellable(() => acts.discardChunks({ jobId: workflowId }));
  }
}
