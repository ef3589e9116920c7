import { isActive, type ChunkState, type JobState } from './job-state.js';
import type { Estimate } from './job-types.js';

/** Where a job's budget stands: dollars billed (chunks done), held for chunks under way, and the cap. */
export interface BudgetStatus {
  maxUsd: number;
  spentUsd: number;
  reservedUsd: number;
  /** Set once the budget stopped the job from submitting more, with why. */
  stopped?: string;
}

/**
 * What a chunk may cost at most, held against the budget from before its create until its results are counted:
 * its share of the estimate's worst case (no cache hits, every answer at max_tokens), widened by the input
 * estimate's error bound, since the worst case of a sampled estimate is itself an estimate.
 */
export function chunkReservationUsd(estimate: Estimate | null, requests: number): number {
  if (!estimate || estimate.requests === 0) return 0;
  const worst = estimate.worst?.batchUsd ?? estimate.batchUsd;
  return (worst / estimate.requests) * requests * (1 + estimate.inputErrorBound);
}

/** What one request answered through the Messages API may cost at most: the estimate's worst case at standard rates. */
export function syncReservationUsd(estimate: Estimate | null): number | undefined {
  if (!estimate || estimate.requests === 0 || !estimate.worst) return undefined;
  return (estimate.worst.standardUsd / estimate.requests) * (1 + estimate.inputErrorBound);
}

export function budgetStatus(state: JobState, maxUsd: number): BudgetStatus {
  let spentUsd = 0;
  let reservedUsd = 0;
  // Finished rounds' chunks summed (COMPACT_PATCH) were billed; none of them holds a reservation.
  for (const r of state.rounds ?? []) spentUsd += r.costUsd;
  for (const c of state.chunks) {
    if (c.outcome) spentUsd += c.outcome.costUsd;
    else if (isActive(c)) reservedUsd += chunkReservationUsd(state.estimate, c.ref.requests);
  }
  return { maxUsd, spentUsd, reservedUsd, ...(state.budgetStopped ? { stopped: state.budgetStopped } : {}) };
}

/** Whether creating `next` keeps billed + held + its own worst case within the cap. */
export function budgetAdmits(state: JobState, next: ChunkState, maxUsd: number): boolean {
  const { spentUsd, reservedUsd } = budgetStatus(state, maxUsd);
  return spentUsd + reservedUsd + chunkReservationUsd(state.estimate, next.ref.requests) <= maxUsd + 1e-12;
}

/**
 * Whether what is billed already plus what is held for the chunks under way passes the cap: possible only when
 * the estimate was wrong (a sampled input, a price the estimate did not use). The job then cancels what runs.
 */
export function budgetPassed(state: JobState, maxUsd: number): boolean {
  const { spentUsd, reservedUsd } = budgetStatus(state, maxUsd);
  return spentUsd + reservedUsd > maxUsd + 1e-12;
}
