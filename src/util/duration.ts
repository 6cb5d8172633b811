/**
 * Durations as operators write them in config and on the command line:
 * `90s`, `5m`, `12h`, `365d`, or a combination such as `1h30m`. Plain `0`
 * means zero (e.g. `snapshots.interval: 0` turns snapshots off). Pure.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+)(ms|s|m|h|d)/gy;

/** Milliseconds of a duration text, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const value = text.trim();
  if (value === '0') return 0;
  if (value === '' || value.length > 32) return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = PART.exec(value); m !== null; m = PART.exec(value)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    end = PART.lastIndex;
  }
  if (end !== value.length || !Number.isSafeInteger(total)) return undefined;
  return total;
}

/** 90000 → '1m30s'; 0 → '0'. The largest units first; readable in messages and /status. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

export const DURATION_HELP = 'a duration such as 90s, 5m, 12h or 365d (units ms, s, m, h, d; combinations like 1h30m)';
