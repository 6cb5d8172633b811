/** The summary table of a --out file, and its place in docs/reliability.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FAULT_KINDS, violations, type TrialRecord } from './record.js';

export const BEGIN = '<!-- trials:begin -->';
export const END = '<!-- trials:end -->';

export function readRecords(file: string): TrialRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TrialRecord);
}

function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const seconds = (ms: number | undefined): string => (ms === undefined ? '–' : (ms / 1000).toFixed(1));

/** A trial counts as violating when an invariant failed or the trial itself failed (its checks are then incomplete). */
export function failed(r: TrialRecord): boolean {
  return violations(r).length > 0 || r.error !== undefined;
}

export function summaryTable(records: TrialRecord[]): string {
  const lines = [
    '| fault kind | trials | trials with a violation | violations by invariant | recovery median (s) | recovery p95 (s) | seconds per trial (median) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const kind of FAULT_KINDS) {
    const mine = records.filter((r) => r.kind === kind);
    if (mine.length === 0) continue;
    const byName = new Map<string, number>();
    for (const r of mine) {
      for (const v of violations(r)) byName.set(v.name, (byName.get(v.name) ?? 0) + 1);
      if (r.error !== undefined) byName.set('trial-error', (byName.get('trial-error') ?? 0) + 1);
    }
    const rec = mine.map((r) => r.recoveryMs).filter((m): m is number => m !== null).sort((a, b) => a - b);
    const per = mine.map((r) => r.trialMs).sort((a, b) => a - b);
    const names = [...byName].map(([n, c]) => `${n}: ${c}`).join(', ') || 'none';
    lines.push(`| ${kind} | ${mine.length} | ${mine.filter(failed).length} | ${names} | ${seconds(quantile(rec, 0.5))} | ${seconds(quantile(rec, 0.95))} | ${seconds(quantile(per, 0.5))} |`);
  }
  return lines.join('\n');
}

/** Replaces what is between the markers in `doc` (which must have them). */
export function writeSummary(doc: string, records: TrialRecord[], note: string): void {
  const text = readFileSync(doc, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${doc} has no ${BEGIN} … ${END} markers`);
  const body = `${BEGIN}\n${note}\n\n${summaryTable(records)}\n${END}`;
  writeFileSync(doc, `${text.slice(0, a)}${body}${text.slice(b + END.length)}`);
}
