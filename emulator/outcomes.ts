/**
 * The outcome of each request is decided when the batch is created (so a restart cannot change it) and stored as
 * one byte per request. Model-level problems and injected faults both end as `errored` result lines.
 */
export const Outcome = {
  ok: 0,
  invalidRequest: 1,
  overloaded: 2,
  apiError: 3,
  injectedInvalidRequest: 4,
  /** Never finishes: `expired` at the deadline, or `canceled` if the batch is canceled first. */
  stuck: 5,
} as const;
export type OutcomeCode = (typeof Outcome)[keyof typeof Outcome];

export interface OutcomeRates {
  overloaded_error: number;
  api_error: number;
  invalid_request_error: number;
  expired: number;
}

export const NO_FAULTS: OutcomeRates = { overloaded_error: 0, api_error: 0, invalid_request_error: 0, expired: 0 };

/** A uniform number in [0, 1) from the given parts (FNV-1a, then a 32-bit finalizer). */
export function uniform(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = String(part);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x1f;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

/** Draws an injected outcome. Keyed by batch as well, so a request retried in a new batch gets a fresh draw. */
export function drawOutcome(rates: OutcomeRates, seed: number, batchId: string, customId: string): OutcomeCode {
  let u = uniform(seed, batchId, customId);
  const table: [number, OutcomeCode][] = [
    [rates.expired, Outcome.stuck],
    [rates.overloaded_error, Outcome.overloaded],
    [rates.api_error, Outcome.apiError],
    [rates.invalid_request_error, Outcome.injectedInvalidRequest],
  ];
  for (const [rate, code] of table) {
    if (u < rate) return code;
    u -= rate;
  }
  return Outcome.ok;
}

export const isErrored = (code: number) => code >= Outcome.invalidRequest && code <= Outcome.injectedInvalidRequest;

export function erroredResult(code: OutcomeCode, modelError: string | null) {
  const [type, message] =
    code === Outcome.overloaded
      ? ['overloaded_error', 'Overloaded']
      : code === Outcome.apiError
        ? ['api_error', 'Internal server error']
        : code === Outcome.injectedInvalidRequest
          ? ['invalid_request_error', 'Injected fault: request rejected by the emulator']
          : ['invalid_request_error', modelError ?? 'Invalid request'];
  return { type: 'errored', error: { type: 'error', error: { type, message }, request_id: null } };
}
