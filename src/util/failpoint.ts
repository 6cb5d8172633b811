import { writeSync } from 'node:fs';

/**
 * Named crash points for kill -9 tests (like etcd's gofail). A test starts the
 * agent with `ETCD_AGENT_FAILPOINTS=<name>[,<name>...]`; when the agent reaches
 * a point named there it writes one line to stderr and kills itself with
 * SIGKILL, exactly between two writes of a multi-file update. The restarted
 * agent (without the variable) must recover from what is on disk.
 *
 * Production cost: the variable is read once, when this module loads; a point
 * that is not armed is one Set lookup.
 *
 * The points, in the order a node passes them (docs/crash-points.md):
 *   ca-key-written                  CA holder: ca.key written, ca.crt not yet
 *   ca-written-before-holder-record CA holder: ca.key + ca.crt written, holder.json not yet
 *   pki-server-key-written          server.key written, etcdctl.key not yet
 *   pki-keys-written                both keys written, CSRs not yet sent
 *   pki-ca-cert-written             pki/ca.crt written, server.crt and etcdctl.crt not yet
 *   pki-server-cert-written         server.crt written, etcdctl.crt not yet
 *   pki-written-before-enrollment   all five pki files written, enrollment.json not yet
 *   enrollment-written              enrollment.json written, etcd.conf and the data dir claim not yet
 *   data-dir-claimed                data dir claimed in enrollment.json, etcd not started yet
 *   conf-existing-before-formed     etcd.conf flipped to `existing`, formed.json not yet
 *
 * Day-2 points (not part of bootstrap, so the bootstrap crash test leaves them out):
 *   snapshot-partial-written        a snapshot's first chunk is in its temp file, the rest not yet
 *   join-admitted                   a joiner's admission (join.json, naming its CA holder) written, not enrolled yet
 */
export const FAILPOINTS = [
  'ca-key-written',
  'ca-written-before-holder-record',
  'pki-server-key-written',
  'pki-keys-written',
  'pki-ca-cert-written',
  'pki-server-cert-written',
  'pki-written-before-enrollment',
  'enrollment-written',
  'data-dir-claimed',
  'conf-existing-before-formed',
] as const;

export const DAY2_FAILPOINTS = ['snapshot-partial-written', 'join-admitted'] as const;

export type FailpointName = (typeof FAILPOINTS)[number] | (typeof DAY2_FAILPOINTS)[number];

export const FAILPOINTS_ENV = 'ETCD_AGENT_FAILPOINTS';

const armed = new Set(
  (process.env[FAILPOINTS_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/** Dies here with SIGKILL when `name` is armed; otherwise does nothing. */
export function failpoint(name: FailpointName): void {
  if (!armed.has(name)) return;
  // writeSync: the line must be out before the process is gone.
  writeSync(2, `etcd-agent: failpoint ${name} reached; killing this process with SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
