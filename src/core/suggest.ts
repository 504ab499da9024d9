// "Did you mean": the known names nearest to a mistyped one.
// Distance is the optimal string alignment distance (Levenshtein plus swapping two
// neighbours as one edit, so OCMD is one edit from OCDM), compared without case: a
// callsign typed in lower case finds its upper-case name. A name is near when at most a
// third of its characters differ (at least one edit, never all of them).

/** Edits (insert, delete, substitute, swap neighbours) from a to b. */
export function distance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    const r = rows[i]!;
    const p = rows[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(p[j]! + 1, r[j - 1]! + 1, p[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      r[j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidates near `name`, nearest first (ties keep the candidates' order); an exact match
 * and duplicates are left out. Empty when nothing is near.
 */
export function nearest(name: string, candidates: string[]): string[] {
  const n = name.toLowerCase();
  const max = Math.max(1, Math.floor(name.length / 3));
  const near: { c: string; d: number; i: number }[] = [];
  const seen = new Set<string>();
  candidates.forEach((c, i) => {
    if (c === name || seen.has(c)) return;
    seen.add(c);
    const d = distance(n, c.toLowerCase());
    if (d <= max && d < Math.max(name.length, c.length)) near.push({ c, d, i });
  });
  return near.sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.c);
}
