import { APIConnectionError, APIError } from '@anthropic-ai/sdk';

/**
 * What a failed create proves. `definite`: the API answered with a 4xx (a refused body, a rate or queue limit,
 * `request_too_large`, a bad key) — nothing was created, and trying again needs no reconciliation. `ambiguous`:
 * no answer (timeout, connection reset, the worker's own death) or a 5xx, after which the batch may exist.
 */
export function createFailure(err: unknown): 'definite' | 'ambiguous' {
  if (err instanceof APIConnectionError) return 'ambiguous';
  if (err instanceof APIError && typeof err.status === 'number' && err.status >= 400 && err.status < 500)
    return 'definite';
  return 'ambiguous';
}
