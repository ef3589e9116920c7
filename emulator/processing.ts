/**
 * How long a batch takes, in virtual time. Request i (0-based, in submission order) finishes at
 *   createdAt + factor × (baseLatencyMs + (i + 1) × perRequestMs)
 * where `factor` is drawn once per batch from [1 − spread, 1 + spread]. A closed form keeps "how many requests are
 * done at time t" O(1), which the queue limit and the incremental-counts mode need for every batch on every call.
 */
export interface ProcessingModel {
  baseLatencyMs: number;
  perRequestMs: number;
  spread: number;
  /** After a cancel, requests finishing within this window still complete (they were in flight). */
  cancelLatencyMs: number;
}

export const BATCH_LIFETIME_MS = 24 * 60 * 60_000;
export const RESULTS_RETENTION_MS = 29 * 24 * 60 * 60_000;

export interface BatchSchedule {
  createdAt: number;
  expiresAt: number;
  requestCount: number;
  /** Requests that never finish (injected `expired` outcomes); the batch can then only end by expiry or cancel. */
  stuckCount: number;
  firstDoneAt: number;
  intervalMs: number;
  cancelInitiatedAt: number | null;
  cancelLatencyMs: number;
}

export type EndReason = 'completed' | 'expired' | 'canceled';

export function planSchedule(
  model: ProcessingModel,
  createdAt: number,
  requestCount: number,
  stuckCount: number,
  random01: number,
): BatchSchedule {
  const factor = 1 + model.spread * (2 * random01 - 1);
  return {
    createdAt,
    expiresAt: createdAt + BATCH_LIFETIME_MS,
    requestCount,
    stuckCount,
    firstDoneAt: createdAt + factor * (model.baseLatencyMs + model.perRequestMs),
    intervalMs: factor * model.perRequestMs,
    cancelInitiatedAt: null,
    cancelLatencyMs: model.cancelLatencyMs,
  };
}

export function completionTime(s: BatchSchedule, index: number): number {
  return s.firstDoneAt + index * s.intervalMs;
}

/** Number of requests (counting stuck ones as if they ran) whose completion time is ≤ t. */
export function finishedBy(s: BatchSchedule, t: number): number {
  if (t < s.firstDoneAt) return 0;
  if (s.intervalMs <= 0) return s.requestCount;
  return Math.min(s.requestCount, Math.floor((t - s.firstDoneAt) / s.intervalMs) + 1);
}

/** When processing ends and why: every request done, the 24 h expiry, or the end of a cancellation. */
export function endOf(s: BatchSchedule): { endsAt: number; reason: EndReason } {
  const allDone = s.stuckCount > 0 ? Infinity : completionTime(s, s.requestCount - 1);
  let endsAt = Math.min(allDone, s.expiresAt);
  let reason: EndReason = allDone <= s.expiresAt ? 'completed' : 'expired';
  if (s.cancelInitiatedAt !== null) {
    const cancelEnd = s.cancelInitiatedAt + s.cancelLatencyMs;
    if (cancelEnd < endsAt) {
      endsAt = cancelEnd;
      reason = 'canceled';
    }
  }
  return { endsAt: Math.ceil(endsAt), reason };
}
