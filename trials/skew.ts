/**
 * skew: one host's clock is off by a few minutes (issue 13). Three loopback
 * agents (NodeSet, `process` service manager) start together with
 * pki.certValidity 2m; one random node's agent runs under libfaketime with
 * its wall clock 20–90 s behind or ahead. The cluster must form (bootstrap under
 * skew; the skewed node may be the CA holder, the record says), and then,
 * with a writer running, every node must go through one certificate renewal
 * (at 2/3 of the 2-minute life, ≈80 s after issue) and stay ready.
 *
 * What the skew reaches, checked by hand on Debian 12 (libfaketime 0.9.10,
 * Node 20, etcd 3.4.23):
 * - Node's Date.now(), new Date() and OpenSSL's certificate time checks in
 *   the agent (TLS of the peer API, of its etcd client) see the shifted clock:
 *   `LD_PRELOAD=…/libfaketime.so.1 FAKETIME=+120s node -e 'console.log(new Date())'`
 *   prints a time 120 s ahead.
 * - FAKETIME_DONT_FAKE_MONOTONIC=1 is set: without it libfaketime also shifts
 *   CLOCK_MONOTONIC (process.hrtime jumped from ~1.3e7 ms to the faked wall
 *   time in ms). Timers still fired on time in that test, since the offset is
 *   constant, but a real skewed host has a skewed wall clock and an untouched
 *   monotonic clock, and that is what this trial models.
 * - The etcd that the skewed agent starts inherits LD_PRELOAD but keeps real
 *   time: Go reads the clock through the vDSO, not libc (an etcd started by
 *   hand with FAKETIME=+200s logged the real time). So the bed is "the
 *   agent's clock is off, its etcd's is not": closer to a host whose NTP
 *   daemon slewed under a running etcd than to a host skewed throughout.
 *   The record keeps the evidence (the victim's etcd's first log line
 *   against the agent's start).
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateToken } from '../src/pki/index.js';
import { NodeSet } from '../test/helpers/agents.js';
import type { WriterReport } from '../test/helpers/writer.js';
import { stateDir, type TrialNode } from './access.js';
import { checkAll, waitAllReady } from './invariants.js';
import { FORM_BOUND_MS, closeTrial, startSetWriter, type LoopbackOptions } from './kill.js';
import { loopbackNode } from './loopback.js';
import { renewalEvidence, serverNotAfter, statusOf } from './node-status.js';
import type { InvariantResult, TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

/** pki.certValidity of every node: the shortest the agent accepts, so a renewal round fits in a trial. */
export const CERT_VALIDITY_MS = 120_000;
/** The renewal time of a fresh certificate: 2/3 of its life plus at most 1/20 of jitter (src/agent/certs/renewal-plan.ts). */
const RENEW_AFTER_MS = Math.ceil(CERT_VALIDITY_MS * (2 / 3 + 1 / 20));
/** Slack on top of renewal time + |skew| before "every node renewed" counts as failed (a loaded 2-CPU machine). */
const RENEWAL_SLACK_MS = 60_000;
/** The harness sees a renewal up to one poll (1 s) plus a status answer late. */
const EXPIRY_TOLERANCE_MS = 2_000;
/** Bound on every node ready again once all renewed. */
const READY_AFTER_RENEWAL_MS = 60_000;

const FAKETIME_LIB = 'libfaketime.so.1';

/** Where Debian's libfaketime package put libfaketime.so.1 (`dpkg -L libfaketime`); throws with the install hint. */
export function libfaketimePath(): string {
  const r = spawnSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8', timeout: 10_000 });
  const found = (r.stdout ?? '').split('\n').find((l) => l.endsWith(`/${FAKETIME_LIB}`) && existsSync(l));
  if (!found) throw new Error(`the skew trial needs ${FAKETIME_LIB} from Debian's libfaketime package (apt-get install faketime; scripts/setup-deps.sh installs it)`);
  return found;
}

/** The agent environment that shifts its wall clock by `skewS` seconds (and nothing else). */
export function skewEnv(lib: string, skewS: number): NodeJS.ProcessEnv {
  return { LD_PRELOAD: lib, FAKETIME: `${skewS >= 0 ? '+' : ''}${skewS}s`, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/**
 * Time of etcd's first own log line (capnslog `2026-12-02 12:36:53.727956 I | …`, UTC here; or zap JSON "ts").
 * The agent's `--- etcd-agent: started … at <time> ---` header lines in the same file carry the agent's clock and are skipped.
 */
function firstEtcdLogTime(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, 'utf8').split('\n').slice(0, 50)) {
    const m = /^(?:\{.*"ts":")?(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d{1,3})?)\d*(Z|[+-]\d\d:?\d\d)?/.exec(line);
    if (m) return Date.parse(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`);
  }
  return undefined;
}

/** Lines of a node's etcd log where a TLS peer or client was refused for a certificate outside its validity (Go's x509 message). */
function x509TimeRejections(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('certificate has expired or is not yet valid')).length;
}

/** The agent's first JSON log line's "time" (the agent's own, possibly skewed, clock). */
function firstAgentLogTime(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, 'utf8').split('\n').slice(0, 50)) {
    try {
      const t = (JSON.parse(line) as { time?: unknown }).time;
      const at = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
      if (Number.isFinite(at)) return at;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/**
 * How far each node's clock is from the harness's, as its /status shows it:
 * the newest controller lastRunAt (the certificates controller runs every
 * second) minus the real time of the answer. Before formation there are no
 * controllers: phaseSince is the only clock reading, and too old to use.
 */
async function observedOffsets(nodes: TrialNode[]): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const n of nodes) {
    const s = await statusOf(n);
    const now = Date.now();
    const last = Math.max(...(s?.controllers ?? []).map((c) => (c.lastRunAt ? Date.parse(c.lastRunAt) : -Infinity)));
    out[n.name] = Number.isFinite(last) ? Math.round((last - now) / 1000) * 1000 : null;
  }
  return out;
}

/**
 * At the end, in real time (every etcd's clock): each node's server.crt and etcdctl.crt on disk is inside its validity window.
 * A CA holder whose clock lags issues certificates that live certValidity minus the lag: this catches a renewal round that
 * "succeeded" with certificates that are already, or soon, dead.
 */
function certsValidNow(set: NodeSet): InvariantResult {
  const now = Date.now();
  const bad: string[] = [];
  const seen: string[] = [];
  for (const n of set.nodes) {
    for (const file of ['server.crt', 'etcdctl.crt']) {
      try {
        const c = new X509Certificate(readFileSync(set.pki(n, file), 'utf8'));
        const from = Date.parse(c.validFrom);
        const to = Date.parse(c.validTo);
        if (now < from || now > to) bad.push(`${n.name} ${file}: valid ${c.validFrom} to ${c.validTo}, now ${new Date(now).toISOString()}`);
        else if (file === 'server.crt') seen.push(`${n.name}: ${Math.round((to - now) / 1000)} s left`);
      } catch (err) {
        bad.push(`${n.name} ${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  return { name: 'certs-valid-at-end', ok: bad.length === 0, detail: bad.length > 0 ? bad.join('; ') : seen.join('; ') };
}

export async function runSkewTrial(o: LoopbackOptions): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind: 'skew', seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  const prefix = `/trial/${o.seed}/`;
  try {
    // The draws, in an order that is part of what a seed means: victim, sign, magnitude.
    const victimIndex = rng.int(0, 2);
    const sign = rng.pick([1, -1] as const);
    // 20–90 s either way: up to 3/4 of the 2-minute lifetime (as 9 months would be against 365d). Past
    // about 5/6 of pki.certValidity nothing can work, whatever the renewal plan: a host that far ahead sees
    // every certificate it receives as expired (seed 8002, +160 s), and a CA holder that far behind issues
    // certificates already expired in real time, so the cluster cannot even form (seed 8005, -157 s).
    const skewS = sign * rng.int(20, 90);
    const lib = libfaketimePath();

    await set.init();
    for (const n of set.nodes) await appendFile(n.configPath, `pki:\n  certValidity: ${CERT_VALIDITY_MS / 60_000}m\n`);
    const victim = set.nodes[victimIndex]!;
    Object.assign(record.fault, { victim: victim.name, skewS, faketime: skewEnv(lib, skewS), certValidityMs: CERT_VALIDITY_MS });
    for (const n of set.nodes) set.start(n, n === victim ? { env: skewEnv(lib, skewS) } : {});
    const started = Date.now();
    const nodes = set.nodes.map((n) => loopbackNode(set, n));
    const victimNode = nodes[victimIndex]!;

    // Recovery here is formation: from the start of all three to every node formed and ready.
    const formed = await waitAllReady(nodes, started, FORM_BOUND_MS);
    record.recoveryMs = formed.ms;
    record.fault.recoveryIs = 'from the start of all three agents to every node formed and ready (/status and /readyz)';
    const etcdFirst = firstEtcdLogTime(join(stateDir(victim.root), 'etcd.log'));
    const agentFirst = firstAgentLogTime(victim.logFile);
    record.fault.clocks = {
      // ≈ skewS·1000 when the skew reaches the agent's clock.
      victimAgentFirstLogMinusStartMs: agentFirst === undefined ? null : agentFirst - started,
      // A few seconds when the victim's etcd keeps real time; ≈ skewS·1000 plus that if it were skewed too.
      victimEtcdFirstLogMinusStartMs: etcdFirst === undefined ? null : etcdFirst - started,
    };
    const holderSeen = await Promise.all(nodes.map(async (n) => (await statusOf(n))?.caHolder?.name ?? null));
    const holder = holderSeen.find((h) => h !== null) ?? null;
    Object.assign(record.fault, { caHolder: holder, caHolderSeenBy: Object.fromEntries(nodes.map((n, i) => [n.name, holderSeen[i]])), victimWasCaHolder: holder === victim.name });
    if (formed.ms === null) {
      // Not a harness error: the cluster did not form under skew. The evidence is each node's status.
      record.fault.atFormationBound = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, renewalEvidence(await statusOf(n))] as const)));
      record.fault.describe = await set.describe();
      record.invariants = await checkAll(nodes, { token, recovery: formed, boundMs: FORM_BOUND_MS });
      return record;
    }
    writer = startSetWriter(set, prefix);

    // One renewal round on every node: its renewal count went up and its server certificate's notAfter moved on.
    const before = await Promise.all(nodes.map(async (n) => serverNotAfter(await statusOf(n))));
    const renewalBoundMs = RENEW_AFTER_MS + Math.abs(skewS) * 1000 + RENEWAL_SLACK_MS;
    const renewStarted = Date.now();
    const renewedAt: (number | null)[] = nodes.map(() => null);
    /** What a node's /status said when its formation certificate's notAfter passed (real time) before it had renewed. */
    const atExpiry: Record<string, unknown> = {};
    let last: Record<string, unknown>[] = [];
    while (renewedAt.some((r) => r === null) && Date.now() - renewStarted < renewalBoundMs) {
      const statuses = await Promise.all(nodes.map((n) => statusOf(n)));
      last = statuses.map((s) => renewalEvidence(s));
      statuses.forEach((s, i) => {
        const notAfter = serverNotAfter(s);
        if (renewedAt[i] === null && s && s.certificateRenewal.renewals > 0 && notAfter !== undefined && notAfter !== before[i]) renewedAt[i] = Date.now() - renewStarted;
        const expired = before[i] !== undefined && Date.now() > Date.parse(before[i]!);
        if (renewedAt[i] === null && expired && !(nodes[i]!.name in atExpiry)) {
          atExpiry[nodes[i]!.name] = s ? { phase: s.phase, ready: s.ready, reason: s.reason, members: s.members.map((m) => `${m.name}:${m.healthy ? 'healthy' : `unhealthy (${m.reason ?? ''})`}`), warning: s.certificateRenewal.warning } : '(no status)';
        }
      });
      await sleep(1_000);
    }
    record.fault.renewal = {
      boundMs: renewalBoundMs,
      renewedAfterFormedMs: Object.fromEntries(nodes.map((n, i) => [n.name, renewedAt[i]])),
      notAfterAtFormation: Object.fromEntries(nodes.map((n, i) => [n.name, before[i] ?? null])),
      nodes: Object.fromEntries(nodes.map((n, i) => [n.name, last[i]])),
      statusWhenExpiredUnrenewed: atExpiry,
    };
    const rejections = Object.fromEntries(set.nodes.map((n) => [n.name, x509TimeRejections(join(stateDir(n.root), 'etcd.log'))]));
    record.fault.etcdX509TimeRejections = rejections;
    // In real time (the harness's clock, and every etcd's): did each node replace its certificate before the old one expired?
    const late = nodes.flatMap((n, i) => {
      const was = before[i] === undefined ? NaN : Date.parse(before[i]!);
      const at = renewedAt[i] === null ? Date.now() : renewStarted + renewedAt[i]!;
      const by = Math.round((at - was) / 1000);
      if (at <= was + EXPIRY_TOLERANCE_MS) return [];
      return [`${n.name}: its certificate expired at ${before[i]} (real time); ${renewedAt[i] === null ? `still not renewed ${by} s later` : `renewed only ${by} s later`}`];
    });
    const extra: InvariantResult[] = [
      {
        name: 'renewed-within-bound',
        ok: renewedAt.every((r) => r !== null),
        detail: nodes.map((n, i) => `${n.name}: ${renewedAt[i] === null ? `not renewed within ${renewalBoundMs} ms (${JSON.stringify(last[i])})` : `renewed ${renewedAt[i]} ms after formation`}`).join('; '),
      },
    ];
    extra.push({
      name: 'renewed-before-expiry',
      ok: late.length === 0,
      detail: late.length === 0 ? 'every node renewed before its certificate expired in real time' : `${late.join('; ')}; etcd refused certificates outside their validity (log lines): ${JSON.stringify(rejections)}`,
    });
    const readyAgain = await waitAllReady(nodes, Date.now(), READY_AFTER_RENEWAL_MS);
    extra.push({ name: 'ready-after-renewal', ok: readyAgain.ms !== null, detail: readyAgain.ms !== null ? `all ready ${readyAgain.ms} ms after the renewal round` : readyAgain.detail });
    (record.fault.clocks as Record<string, unknown>).statusOffsetMs = await observedOffsets(nodes);
    record.fault.victimStatusAfter = renewalEvidence(await statusOf(victimNode));

    extra.push(certsValidNow(set));

    await sleep(1_000);
    const report = await writer.stop();
    writer = undefined;
    record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs, firstFailures: report.failures.slice(0, 3) };
    record.invariants = [...(await checkAll(nodes, { token, recovery: formed, boundMs: FORM_BOUND_MS, writes: { prefix, acked: report.keys } })), ...extra];
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    await closeTrial(record, set, writer, began);
  }
  return record;
}
