/**
 * kill-renew: kill -9 in the middle of certificate renewal. Three loopback
 * agents with `pki.certValidity: 2m` (the minimum) renew their leaf
 * certificates about 80–86 s after formation (2/3 of the lifetime plus
 * jitter), all within a few seconds of each other, the CA holder signing for
 * the others. The kill (agent, etcd or both of one random node) lands close
 * to that node's own renewal moment, as /status announced it; a killed agent
 * is restarted as systemd would. Recovered means every node ready **and**
 * every node's leaf certificates renewed (a later notAfter than at
 * formation), before the old ones expire.
 */
import type { StatusReport } from '../src/agent/status/model.js';
import type { TrialNode } from './access.js';
import { phasesNow, type Recovery } from './invariants.js';
import { killAndRestart, runFormedTrial, type FormedBed, type FaultOutcome } from './formed-trial.js';
import type { LoopbackOptions, Target } from './kill.js';
import type { TrialRecord } from './record.js';
import { sleep } from './rng.js';
import { statusOf } from './node-status.js';

/** The kill lands this far before/after the victim's announced renewal moment. */
const BEFORE_MS = 1_000;
const AFTER_MS = 2_000;

/** notAfter of each leaf (server and client) certificate of the node, by file. */
function leafExpiries(s: StatusReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of s.certificates) if (c.kind !== 'ca') out[c.file] = Date.parse(c.notAfter);
  return out;
}

/** Waits until every node's leaf certificates all expire later than they did at formation. */
async function waitRenewed(nodes: TrialNode[], before: Map<string, Record<string, number>>, from: number, deadline: number): Promise<Recovery> {
  let detail = '';
  for (;;) {
    const views = await Promise.all(
      nodes.map(async (n) => {
        const s = await statusOf(n);
        if (!s) return { ok: false, text: `${n.name}: no status` };
        const was = before.get(n.name) ?? {};
        const now = leafExpiries(s);
        const stale = Object.keys(was).filter((f) => !(now[f]! > was[f]!));
        return { ok: stale.length === 0, text: `${n.name}: ${stale.length === 0 ? 'renewed' : `not renewed: ${stale.join(', ')}`} (renewals ${s.certificateRenewal.renewals}, last error ${s.certificateRenewal.lastError ?? 'none'})` };
      }),
    );
    detail = views.map((v) => v.text).join('; ');
    if (views.every((v) => v.ok)) return { ms: Date.now() - from, detail };
    if (Date.now() > deadline) return { ms: null, detail: `leaf certificates not all renewed: ${detail}` };
    await sleep(500);
  }
}

async function renewFault({ set, nodes, rng, record }: FormedBed): Promise<FaultOutcome> {
  // The draws, in an order that is part of what a seed means.
  const victimIndex = rng.int(0, 2);
  const target = rng.pick<Target>(['agent', 'etcd', 'both']);
  const offsetMs = rng.int(-BEFORE_MS, AFTER_MS);
  const restartDelayMs = rng.int(200, 3_000);

  const victim = set.nodes[victimIndex]!;
  const before = new Map<string, Record<string, number>>();
  const renewAt: Record<string, string | null> = {};
  let holder: string | undefined;
  for (const n of nodes) {
    const s = await statusOf(n);
    if (!s) throw new Error(`${n.name} has no status after formation`);
    before.set(n.name, leafExpiries(s));
    renewAt[n.name] = s.certificateRenewal.nextRenewalAt;
    holder ??= s.caHolder?.name;
  }
  const victimRenewAt = renewAt[victim.name];
  if (!victimRenewAt) throw new Error(`${victim.name} announces no renewal moment in /status`);
  const at = Date.parse(victimRenewAt) + offsetMs;
  await sleep(at - Date.now());
  const phases = await phasesNow(nodes);
  const { killed, killedAt, healed } = await killAndRestart(set, victim, target, restartDelayMs);
  Object.assign(record.fault, {
    victim: victim.name,
    victimWasCaHolder: holder === victim.name,
    target,
    offsetMs,
    renewAt,
    sinceVictimRenewAtMs: killedAt - Date.parse(victimRenewAt),
    phases,
    killed,
    ...(target !== 'etcd' ? { restartDelayMs } : {}),
  });
  return {
    healed,
    recovered: async (deadline) => {
      const r = await waitRenewed(nodes, before, healed, deadline);
      record.fault.renewedAfterHealMs = r.ms;
      return r;
    },
  };
}

export function runRenewTrial(o: LoopbackOptions): Promise<TrialRecord> {
  return runFormedTrial({ kind: 'kill-renew', config: 'pki:\n  certValidity: 2m\n', fault: renewFault }, o);
}
