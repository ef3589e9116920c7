/**
 * Decisions of the synchronous fallback (the Messages API): which failures are worth another try, and how long to
 * wait before it. The API's `retry-after` is obeyed; without one the wait grows exponentially with jitter.
 */

/** HTTP statuses worth trying again: rate limited (429), overloaded (529), and server errors. */
export function retryableStatus(status: number | undefined): boolean {
  if (status === undefined) return true; // no answer at all: the connection failed
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** The error type a result line records for a failed status, as the Batches API would name it. */
export function errorTypeOfStatus(status: number | undefined): string {
  if (status === undefined) return 'api_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status === 408 || status === 504) return 'timeout_error';
  if (status >= 500) return 'api_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  return 'invalid_request_error';
}

const BASE_MS = 1000;
const MAX_MS = 60_000;

/**
 * Milliseconds to wait before attempt `attempt + 1` (attempt counts from 1), or null when waiting would pass
 * `stopAt` (epoch ms): then the request is answered with its last error instead. `retryAfterSeconds` is the API's
 * `retry-after` header (null when absent); `random` is in [0, 1).
 */
export function syncRetryDelayMs(
  attempt: number,
  retryAfterSeconds: number | null,
  now: number,
  stopAt: number,
  random: number,
): number | null {
  const backoff = Math.min(MAX_MS, BASE_MS * 2 ** (attempt - 1)) * (0.5 + random / 2);
  const delay = retryAfterSeconds !== null && retryAfterSeconds >= 0 ? retryAfterSeconds * 1000 : backoff;
  return now + delay < stopAt ? delay : null;
}

/** `retry-after` in seconds (the API sends whole seconds; an HTTP date is read too), or null. */
export function retryAfterSeconds(header: string | null | undefined, now: number): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, (at - now) / 1000) : null;
}
