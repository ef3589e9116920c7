import { toMs } from './duration.js';

/** The shortest wait between polls: a wait computed to the expiry-warning instant may come out at (almost) zero. */
const MIN_POLL_MS = 1000;

/**
 * The wait before the next `retrieve` of a batch: quick at first (a small batch may finish in minutes), growing
 * by half each poll up to `max`, and never sleeping past the expiry-warning instant, so the warning fires on time.
 * Never longer than `max` either, even when `max` is below the 1 s floor: a batch that ends is noticed within the
 * poll interval the job asked for.
 */
export function nextPollDelay(
  pollsSoFar: number,
  poll: { initial: string | number; max: string | number },
  now: number,
  warnAt: number | null,
): number {
  const initial = toMs(poll.initial);
  const max = toMs(poll.max);
  const floor = Math.min(MIN_POLL_MS, max);
  const backoff = Math.min(max, initial * Math.pow(1.5, Math.max(0, pollsSoFar - 1)));
  if (warnAt !== null && warnAt > now) return Math.max(floor, Math.min(backoff, warnAt - now));
  return Math.max(floor, backoff);
}

/** When the expiry warning is due for a batch: `expiresAt − expiryWarning`. */
export function expiryWarningAt(expiresAt: number, expiryWarning: string | number): number {
  return expiresAt - toMs(expiryWarning);
}
