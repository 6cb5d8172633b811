/** "did you mean" support: the closest candidate to a mistyped key, if close enough. */

function normalize(s: string): string {
  return s.toLowerCase().replace(/[-_]/g, '');
}

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The candidate closest to `word`: an exact match after ignoring case, "-"
 * and "_" (token_file → tokenFile), else the smallest edit distance within a
 * third of the word's length (at least 1, at most 3).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const n = normalize(word);
  const same = candidates.find((c) => normalize(c) === n);
  if (same !== undefined) return same;
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(n, normalize(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
