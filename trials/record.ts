/** What one trial leaves behind: one JSON line in the --out file. */

export const FAULT_KINDS = ['kill-bootstrap', 'partition-bootstrap', 'kill-formed', 'kill-join', 'kill-replace', 'kill-renew', 'kill-snapshot', 'pause', 'pause-spare', 'skew', 'disk-full', 'partition-join'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One named invariant after the trial; a violation keeps its evidence. */
export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface TrialRecord {
  kind: FaultKind;
  /** Replays the trial's random choices: `--kinds <kind> --seed <seed> --trials 1`. */
  seed: number;
  startedAt: string;
  /** Wall time of the whole trial, setup and teardown included. */
  trialMs: number;
  /** What was injected, when, and what each node was doing at that moment. */
  fault: Record<string, unknown>;
  /** From heal/restart to every node formed and ready; null when that did not happen within the bound. */
  recoveryMs: number | null;
  invariants: InvariantResult[];
  /** Set when the trial itself failed (setup, a helper); its invariants are then incomplete. */
  error?: string;
}

export function violations(r: TrialRecord): InvariantResult[] {
  return r.invariants.filter((i) => !i.ok);
}
