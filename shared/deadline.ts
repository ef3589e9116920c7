import { toMs } from './duration.js';

/** A job's deadline, as the job input gives it once defaults are filled in. */
export interface DeadlineInput {
  /** An ISO 8601 time, or a duration from the job's start ("6h"). */
  at: string;
  /** Kept free between the synchronous drain's expected end and the deadline. */
  margin?: string | number | undefined;
  /** Synchronous requests in flight at once. */
  concurrency: number;
  /** Seconds one synchronous request is assumed to take, when no pilot measured it. */
  requestSeconds?: number | undefined;
}

/** Seconds a synchronous request is assumed to take when nothing measured it (a long answer at ~50 tokens/s). */
export const DEFAULT_SYNC_REQUEST_SECONDS = 30;

/** The deadline as epoch ms: an absolute time as given, a duration counted from the job's start. */
export function deadlineAt(at: string, startedAt: number): number {
  const relative = toMs(at);
  if (Number.isFinite(relative) && relative > 0) return startedAt + relative;
  return Date.parse(at);
}

/** Whether `at` is something `deadlineAt` can read (an ISO time with a zone, or a positive duration). */
export function readableDeadline(at: string): boolean {
  const relative = toMs(at);
  if (Number.isFinite(relative) && relative > 0) return true;
  return /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(at) && Number.isFinite(Date.parse(at));
}

/**
 * The margin when none is given: a tenth of the time the job has, at least a minute and at most half an hour —
 * enough for the cancel of the batches to land and their finished results to be fetched.
 */
export function defaultMarginMs(deadlineMs: number, startedAt: number): number {
  return Math.min(30 * 60_000, Math.max(60_000, (deadlineMs - startedAt) / 10));
}

/** How long `requests` synchronous requests take, `concurrency` at a time, each `requestMs`. */
export function syncDrainMs(requests: number, concurrency: number, requestMs: number): number {
  return Math.ceil(requests / Math.max(1, concurrency)) * requestMs;
}

/**
 * When the job stops waiting for its batches: the deadline, less the time the requests still without an answer
 * would take through the Messages API, less the margin. Fewer requests left moves it later, never earlier.
 */
export function cutoffAt(
  deadline: DeadlineInput,
  startedAt: number,
  remainingRequests: number,
  measuredRequestMs: number | null,
): number {
  const end = deadlineAt(deadline.at, startedAt);
  const margin = deadline.margin !== undefined ? toMs(deadline.margin) : defaultMarginMs(end, startedAt);
  const requestMs = measuredRequestMs ?? (deadline.requestSeconds ?? DEFAULT_SYNC_REQUEST_SECONDS) * 1000;
  return end - syncDrainMs(remainingRequests, deadline.concurrency, requestMs) - margin;
}
