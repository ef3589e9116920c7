import { ApplicationFailure } from '@temporalio/common';
import { APIError, APIConnectionError, AuthenticationError, PermissionDeniedError } from '@anthropic-ai/sdk';

/**
 * Errors of calls made before anything is submitted: a rejected API key fails the job at once (retrying cannot
 * fix it, and nothing would be lost), a refused body likewise; rate limits retry after `retry-after`. Everything
 * else — connection errors, 5xx — is left to Temporal's retries.
 */
export function beforeSubmitError(err: unknown, what: string): unknown {
  if (err instanceof AuthenticationError || err instanceof PermissionDeniedError)
    return ApplicationFailure.nonRetryable(
      `the Anthropic API rejected the worker's API key during ${what} (${err.status}); fix ANTHROPIC_API_KEY on the worker and start the job again`,
      'AnthropicAuthFailed',
    );
  if (err instanceof APIError && !(err instanceof APIConnectionError) && err.status !== undefined) {
    if (err.status === 429) {
      const retryAfter = Number(err.headers?.get('retry-after'));
      return ApplicationFailure.create({
        message: `${what} was rate limited: ${err.message}`,
        type: 'RateLimited',
        ...(retryAfter > 0 ? { nextRetryDelay: retryAfter * 1000 } : {}),
      });
    }
    if (err.status === 400 || err.status === 413)
      return ApplicationFailure.nonRetryable(`the API refused the ${what}: ${err.message}`, 'BatchRefused');
  }
  return err;
}
