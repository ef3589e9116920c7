import type { Approval, JobState } from './job-state.js';

export interface ApprovalDecision {
  by?: string;
  reason?: string;
}

/**
 * Whether the job needs a person's approval: only when the estimate exceeds the threshold, and then it is already
 * given when the job was approved up front (`--yes`, or `approval.preApproved` in the job input).
 */
/**
 * The figure the approval threshold is compared with: the worst case unless the job says `approval.basis:
 * 'expected'` (estimates of older builds have only the expected figure).
 */
export function approvalBasisUsd(
  estimate: { batchUsd: number; worst?: { batchUsd: number } } | null | undefined,
  basis: 'worst' | 'expected',
): number {
  if (!estimate) return 0;
  return basis === 'worst' && estimate.worst ? estimate.worst.batchUsd : estimate.batchUsd;
}

export function approvalFor(
  estimateUsd: number,
  thresholdUsd: number,
  upFront: { preApproved?: boolean; approvedBy?: string | undefined } = {},
): Approval {
  const required = estimateUsd > thresholdUsd;
  if (!required) return { required, thresholdUsd, state: 'not_needed' };
  if (!upFront.preApproved) return { required, thresholdUsd, state: 'waiting' };
  return {
    required,
    thresholdUsd,
    state: 'approved',
    by: upFront.approvedBy ?? 'the job input (approval.preApproved)',
    reason: 'approved up front',
  };
}

/** Why an approve/reject is refused (null when the job is waiting for one); update validators must be synchronous. */
export function approvalRefusal(state: JobState): string | null {
  if (state.approval?.state === 'waiting') return null;
  return `this job is not waiting for approval (approval: ${state.approval?.state ?? 'not decided yet'}, phase: ${state.phase})`;
}

export function decide(
  approval: Approval,
  decision: 'approved' | 'rejected',
  d: ApprovalDecision | undefined,
): Approval {
  return {
    ...approval,
    state: decision,
    ...(d?.by ? { by: d.by } : {}),
    ...(d?.reason ? { reason: d.reason } : {}),
  };
}

/** The failure of a job that was not approved: null when it may go on. */
export function notApproved(
  approval: Approval,
  timeout: string | number,
): { message: string; type: 'JobRejected' | 'ApprovalTimedOut' } | null {
  const { state, by, reason } = approval;
  if (state === 'rejected')
    return {
      message: `Job rejected${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}. Nothing was submitted.`,
      type: 'JobRejected',
    };
  if (state === 'timed_out')
    return { message: `Job not approved within ${timeout}. Nothing was submitted.`, type: 'ApprovalTimedOut' };
  return null;
}
