/** Dollars for people: cents for big sums, four decimals under a dollar, two significant digits under a cent. */
export function formatUsd(n: number): string {
  if (n === 0) return '$0';
  if (Math.abs(n) < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(Math.abs(n) < 1 ? 4 : 2)}`;
}

/** An error bound (a share, 0.0123) as a percentage with enough digits that a small one does not read as zero. */
export function pctBound(share: number): string {
  const pct = 100 * share;
  return pct >= 1 ? pct.toFixed(1) : pct.toPrecision(1);
}

/** Token counts by class, as estimates and reports show them: each class on its own (1h writes cost more). */
export function tokenClasses(t: {
  input: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  output: number;
}): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return [
    `${n(t.input)} uncached input`,
    `${n(t.cacheWrite5m)} 5m cache writes`,
    ...(t.cacheWrite1h ? [`${n(t.cacheWrite1h)} 1h cache writes`] : []),
    `${n(t.cacheRead)} cache reads`,
    `${n(t.output)} output`,
  ].join(', ');
}
