/** "Did you mean …": the known names closest to a mistyped one. */

/** Edit distance (insertions, deletions, substitutions), in two rows of memory. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Up to `max` known names within a few edits of `name` (closest first). Separators are compared loosely, so
 * `claude-haiku-4.5` and `Claude_Haiku_4_5` find `claude-haiku-4-5`.
 */
export function suggestNames(name: string, known: string[], max = 3): string[] {
  const loose = (s: string) => s.toLowerCase().replace(/[._\s]/g, '-');
  const target = loose(name);
  const limit = Math.max(2, Math.floor(target.length / 4));
  return known
    .map((k) => ({ k, d: editDistance(target, loose(k)) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.k.length - b.k.length || a.k.localeCompare(b.k))
    .slice(0, max)
    .map((x) => x.k);
}
