/** Reading a trial node's /status: never throws, bounded by the status client's own timeout. */
import type { StatusReport } from '../src/agent/status/model.js';
import type { TrialNode } from './access.js';

export async function statusOf(n: TrialNode): Promise<StatusReport | undefined> {
  try {
    const r = await n.get('/status');
    return r.status === 200 ? (JSON.parse(r.body) as StatusReport) : undefined;
  } catch {
    return undefined;
  }
}

/** notAfter of the node's server certificate as its /status reports it (ISO), or undefined. */
export function serverNotAfter(s: StatusReport | undefined): string | undefined {
  return s?.certificates.find((c) => c.kind === 'server')?.notAfter;
}

/** What a node's certificates controller says, compactly, for a record. */
export function renewalEvidence(s: StatusReport | undefined): Record<string, unknown> {
  if (!s) return { status: '(no status)' };
  const r = s.certificateRenewal;
  return {
    serverNotAfter: serverNotAfter(s) ?? null,
    renewals: r.renewals,
    failures: r.failures,
    lastError: r.lastError,
    lastRenewalAt: r.lastRenewal?.at ?? null,
    nextRenewalAt: r.nextRenewalAt,
    reenrolled: r.reenrolled,
    warning: r.warning,
  };
}
