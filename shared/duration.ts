import ms from 'ms';

/** Milliseconds of a duration string ("30s", "10m", "24h") or a number of milliseconds; NaN when unreadable. */
export function toMs(value: string | number): number {
  if (typeof value === 'number') return value;
  const parsed = ms(value as ms.StringValue);
  return typeof parsed === 'number' ? parsed : NaN;
}

export function formatDuration(msValue: number): string {
  return ms(Math.round(msValue), { long: false });
}
