/** Error types of the Anthropic API, keyed by the HTTP status that carries them. */
export const ERROR_TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** Default messages, matching the wording the real API uses where it is known. */
const DEFAULT_MESSAGE: Readonly<Record<string, string>> = {
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
  timeout_error: 'Request timed out',
  not_found_error: 'Not found',
};

/** An error the emulator answers with the API's error envelope. */
export class ApiError extends Error {
  readonly type: string;
  constructor(
    readonly status: number,
    message?: string,
    readonly headers: Record<string, string> = {},
    type?: string,
  ) {
    const resolved = type ?? ERROR_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    super(message ?? DEFAULT_MESSAGE[resolved] ?? resolved);
    this.type = resolved;
  }
}

export const invalidRequest = (message: string) => new ApiError(400, message);
export const notFound = (message = 'Not found') => new ApiError(404, message);

export function errorEnvelope(type: string, message: string, requestId: string | null) {
  return { type: 'error', error: { type, message }, request_id: requestId };
}
