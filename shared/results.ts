import type { ApiUsage } from './pricing.js';

/** One line of a Message Batches results file (the subset we read). */
export interface ResultLine {
  custom_id: string;
  result:
    | { type: 'succeeded'; message: { model: string; usage: ApiUsage } }
    | { type: 'errored'; error: { type?: string; error?: { type: string; message: string } } }
    | { type: 'canceled' }
    | { type: 'expired' };
}

/** A result line's `result` for a request the job answers itself: errored, with our own error type. */
export const erroredResult = (type: string, message: string): ResultLine['result'] => ({
  type: 'errored',
  error: { type: 'error', error: { type, message } },
});

/** Error types worth sending again as they are: the request was fine, the service was not. */
export const RETRYABLE_ERROR_TYPES = ['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error'] as const;

/** The outcome key a result is tallied under: its type, or for errors the error type ("errored:api_error"). */
export function outcomeOf(result: ResultLine['result']): string {
  if (result.type !== 'errored') return result.type;
  return `errored:${result.error.error?.type ?? 'unknown_error'}`;
}

/**
 * Whether a request goes into the next retry round: expired and canceled ones, and errors of a retryable type.
 * `invalid_request_error` (and any other client error) is final: sending it again would fail again.
 */
export function shouldRetry(result: ResultLine['result'], jobCanceled: boolean): boolean {
  if (jobCanceled) return false;
  if (result.type === 'expired' || result.type === 'canceled') return true;
  if (result.type !== 'errored') return false;
  const type = result.error.error?.type;
  return type !== undefined && (RETRYABLE_ERROR_TYPES as readonly string[]).includes(type);
}
