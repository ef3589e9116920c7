/**
 * How far the API's clock is ahead of ours, from the HTTP `date` header of one of its answers: a batch's
 * `expires_at` is on the API's clock, so "expires in 3h" must be counted from the API's now. The header has
 * one-second resolution and the request takes time, so differences within a few seconds read as none. (The
 * emulator's clock can run many times faster than ours; a real API's is within a second.)
 */
export function apiClockAheadMs(dateHeader: string | null | undefined, localNow: number): number {
  const api = Date.parse(dateHeader ?? '');
  if (!Number.isFinite(api)) return 0;
  const ahead = api - localNow;
  return Math.abs(ahead) < 5000 ? 0 : ahead;
}
