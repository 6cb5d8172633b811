import { formatDuration } from '../../util/duration.js';
import { DEFAULTS, withRoot } from './defaults.js';
import type { AgentConfig } from './types.js';

/** What the validator has parsed so far, and how it reports. */
export interface Day2Input {
  ints: ReadonlyMap<string, number>;
  /** Duration keys, in ms. */
  durations: ReadonlyMap<string, number>;
  strings: ReadonlyMap<string, string>;
  present: ReadonlyMap<string, unknown>;
  problem: (key: string, message: string) => void;
  label: (path: string) => string;
  root: string;
}

const DAY_MS = 86_400_000;

/**
 * The day-2 sections of the config (pki, membership, snapshots), with their
 * defaults and the rules that span keys. Types and ranges of single keys are
 * checked by the validator before this runs.
 */
export function day2Settings(input: Day2Input): Pick<AgentConfig, 'pki' | 'membership' | 'snapshots'> {
  const { ints, durations, strings, present, problem, label } = input;

  // pki.certValidityDays is the older spelling; it keeps working alone, never together with the new key.
  const days = ints.get('pki.certValidityDays');
  if (present.has('pki.certValidity') && present.has('pki.certValidityDays')) {
    problem('pki.certValidityDays', `${label('pki.certValidityDays')} and ${label('pki.certValidity')} are both set; keep only pki.certValidity (a duration such as 365d or 90d)`);
  }
  const certValidityMs = durations.get('pki.certValidity') ?? (days !== undefined ? days * DAY_MS : DEFAULTS.certValidityMs);
  const caValidityDays = ints.get('pki.caValidityDays') ?? DEFAULTS.caValidityDays;
  if (caValidityDays * DAY_MS < certValidityMs) {
    problem('pki.caValidityDays', `${label('pki.caValidityDays')} is ${caValidityDays}, shorter than the leaf certificate validity (pki.certValidity, or pki.certValidityDays); allowed: at least as long, at most 36500`);
  }
  // A certificate is renewed with a third of its lifetime left (less the jitter): a warning window as long
  // as that would fail /readyz for most of every certificate's life. The default shrinks with short lifetimes.
  const warning = durations.get('pki.expiryWarning');
  const maxWarningMs = Math.floor(certValidityMs / 4);
  if (warning !== undefined && warning > maxWarningMs) {
    problem(
      'pki.expiryWarning',
      `${label('pki.expiryWarning')} is ${formatDuration(warning)}, more than a quarter of the certificate validity (${formatDuration(certValidityMs)}); certificates are renewed with a third of their life left, so /readyz would fail most of the time; allowed: 0 (off) to ${formatDuration(maxWarningMs)}`,
    );
  }
  const expiryWarningMs = warning ?? Math.min(DEFAULTS.expiryWarningMs, Math.floor(certValidityMs / 6));

  const deadAfterMs = durations.get('membership.deadAfter') ?? DEFAULTS.deadAfterMs;
  const learnerTimeoutMs = durations.get('membership.learnerTimeout') ?? DEFAULTS.learnerTimeoutMs;

  const intervalMs = durations.get('snapshots.interval') ?? DEFAULTS.snapshotIntervalMs;
  const dir = strings.get('snapshots.dir') ?? withRoot(input.root, DEFAULTS.snapshotDir);
  const keep = ints.get('snapshots.keep') ?? DEFAULTS.snapshotKeep;

  return {
    pki: { certValidityMs, caValidityDays, expiryWarningMs },
    membership: { deadAfterMs, learnerTimeoutMs },
    snapshots: { intervalMs, dir, keep },
  };
}
