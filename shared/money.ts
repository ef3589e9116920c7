/** Dollars for people: cents for big sums, four decimals under a dollar, two significant digits under a cent. */
export function formatUsd(n: number): string {
  if (n === 0) return '$0';
  if (Math.abs(n) < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(Math.abs(n) < 1 ? 4 : 2)}`;
}
