/** What a chunk records before a create: where the window of batches that could be this create's starts and ends. */
export interface Intent {
  chunkId: string;
  requests: number;
  /** The chunk's content, so a record of other content (a re-run on a changed input) is never taken for this one. */
  digest?: string;
  /** The newest batch visible before the create: the window starts after it. */
  newestBefore: { id: string; createdAt: string } | null;
  recordedAt: string;
  /** When a create failed without telling whether it created anything (timeout, reset, 5xx). */
  ambiguousAt?: string;
  /** The API's own time just after that failure (its `date` header): the window ends a little after it. */
  createdBefore?: string;
  /**
   * A held create (shared/early-create.ts): its body's last bytes were kept back until `releasedAt`, recorded
   * before they were sent. Without it, the create cannot have made anything; `requests` is known only from then.
   */
  held?: true;
  releasedAt?: string;
}

/**
 * How long after our create gave up the API may still finish making the batch (a request it had fully received
 * when the connection broke). Counted on the API's clock.
 */
export const CREATE_LATE_MS = 120_000;

/**
 * The span of API time, in ms, in which the batch of an ambiguous create can have been made: after the newest batch
 * seen before it, and — when the failure was seen (not a worker's death) — before the API's time after it plus
 * `CREATE_LATE_MS` and the `date` header's one-second resolution.
 */
export function candidateWindow(intent: Intent): { after: number; before: number } {
  const after = intent.newestBefore ? Date.parse(intent.newestBefore.createdAt) : -Infinity;
  const end = intent.createdBefore ? Date.parse(intent.createdBefore) : NaN;
  return { after, before: Number.isFinite(end) ? end + 1000 + CREATE_LATE_MS : Infinity };
}

export function fitsWindow(createdAt: string, window: { after: number; before: number }): boolean {
  const t = Date.parse(createdAt);
  return t >= window.after && t <= window.before;
}
