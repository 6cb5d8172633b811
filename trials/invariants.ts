/**
 * The checks after every trial. Each is named and returns its evidence; none
 * throws (a check that cannot run is itself a violation, with the reason).
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusReport } from '../src/agent/status/model.js';
import { parseEnvFile } from '../src/util/env-file.js';
import { parseEtcdJson } from '../test/helpers/cluster-checks.js';
import { confFile, pkiDir, stateDir, type TrialNode } from './access.js';
import type { InvariantResult } from './record.js';
import { snapshotsIntact } from './snapshot-check.js';

const result = (name: string, ok: boolean, detail: string): InvariantResult => ({ name, ok, detail });

async function guarded(name: string, check: () => Promise<InvariantResult> | InvariantResult): Promise<InvariantResult> {
  try {
    return await check();
  } catch (err) {
    return result(name, false, `the check could not run: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The cluster id each node's own etcd reports; every node that answers must report the same one. */
export async function oneClusterId(nodes: TrialNode[]): Promise<InvariantResult> {
  return guarded('one-cluster-id', async () => {
    const ids: Record<string, string> = {};
    for (const n of nodes) {
      const r = await n.etcdctl(['endpoint', 'status', '-w', 'json']);
      if (r.code !== 0) {
        ids[n.name] = '(no answer)';
        continue;
      }
      const parsed = parseEtcdJson<{ Status: { header: { cluster_id: string } } }[]>(r.stdout);
      ids[n.name] = BigInt(parsed[0]!.Status.header.cluster_id).toString(16);
    }
    const distinct = new Set(Object.values(ids).filter((v) => v !== '(no answer)'));
    return result('one-cluster-id', distinct.size === 1, JSON.stringify(ids));
  });
}

/** Every node's pki/ca.crt exists and all are byte-identical. */
export function oneCa(nodes: TrialNode[]): Promise<InvariantResult> {
  return guarded('one-ca', () => {
    const hashes: Record<string, string> = {};
    for (const n of nodes) {
      const file = join(pkiDir(n.root), 'ca.crt');
      hashes[n.name] = existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16) : '(missing)';
    }
    const values = Object.values(hashes);
    return result('one-ca', !values.includes('(missing)') && new Set(values).size === 1, JSON.stringify(hashes));
  });
}

/** Every acknowledged write reads back (linearizable get) from every node. */
export function noLostWrite(nodes: TrialNode[], prefix: string, acked: string[]): Promise<InvariantResult> {
  return guarded('no-lost-write', async () => {
    const lost: string[] = [];
    for (const n of nodes) {
      const r = await n.etcdctl(['get', prefix, '--prefix', '--keys-only']);
      if (r.code !== 0) {
        lost.push(`${n.name}: read failed: ${r.stderr.trim()}`);
        continue;
      }
      const present = new Set(r.stdout.split('\n').filter(Boolean));
      const missing = acked.filter((k) => !present.has(k));
      if (missing.length > 0) lost.push(`${n.name}: ${missing.length} of ${acked.length} acknowledged keys missing, e.g. ${missing.slice(0, 5).join(', ')}`);
    }
    return result('no-lost-write', lost.length === 0 && acked.length > 0, lost.length > 0 ? lost.join('; ') : `${acked.length} acknowledged writes read back from ${nodes.length} nodes`);
  });
}

function filesUnder(dir: string, depth = 2): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth > 0) out.push(...filesUnder(p, depth - 1));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const CONF_KEYS = ['ETCD_NAME', 'ETCD_DATA_DIR', 'ETCD_LISTEN_CLIENT_URLS', 'ETCD_INITIAL_CLUSTER', 'ETCD_INITIAL_CLUSTER_STATE', 'ETCD_PEER_TRUSTED_CA_FILE'];

/** Why the file does not parse, or undefined when it does (state JSON, PEM certificates and keys, etcd.conf). */
function fileProblem(file: string): string | undefined {
  const text = readFileSync(file, 'utf8');
  if (file.endsWith('.json')) {
    JSON.parse(text);
  } else if (file.endsWith('.crt')) {
    new X509Certificate(text);
  } else if (file.endsWith('.key')) {
    createPrivateKey(text);
  } else if (file.endsWith('etcd.conf')) {
    const env = parseEnvFile(text);
    const missing = CONF_KEYS.filter((k) => !env[k]);
    if (missing.length > 0) return `missing ${missing.join(', ')}`;
    if (!text.endsWith('\n')) return 'no final newline (truncated?)';
  }
  return undefined;
}

/** Every file the agent manages parses: state JSON, certificates, keys, etcd.conf (half-written or truncated files fail). */
export function filesParse(nodes: TrialNode[]): Promise<InvariantResult> {
  return guarded('files-parse', () => {
    const bad: string[] = [];
    let checked = 0;
    for (const n of nodes) {
      const files = [...filesUnder(stateDir(n.root)).filter((f) => /\.(json|crt|key)$/.test(f)), ...filesUnder(pkiDir(n.root)).filter((f) => /\.(crt|key)$/.test(f)), confFile(n.root)];
      for (const f of files) {
        if (!existsSync(f)) {
          bad.push(`${n.name}: ${f} missing`);
          continue;
        }
        checked++;
        try {
          const why = fileProblem(f);
          if (why) bad.push(`${f}: ${why}`);
        } catch (err) {
          bad.push(`${f}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    return result('files-parse', bad.length === 0, bad.length > 0 ? bad.join('; ') : `${checked} files parse`);
  });
}

/** No learner left behind, and exactly the expected number of members, as each node's etcd sees it. */
export function noLearner(nodes: TrialNode[], expectedMembers: number): Promise<InvariantResult> {
  return guarded('no-learner', async () => {
    const bad: string[] = [];
    const seen: string[] = [];
    for (const n of nodes) {
      const r = await n.etcdctl(['member', 'list', '-w', 'json']);
      if (r.code !== 0) {
        bad.push(`${n.name}: member list failed: ${r.stderr.trim()}`);
        continue;
      }
      const parsed = parseEtcdJson<{ members: { name: string; isLearner?: boolean }[] }>(r.stdout);
      const names = parsed.members.map((m) => `${m.name || '(unstarted)'}${m.isLearner ? ' (learner)' : ''}`);
      seen.push(`${n.name}: ${names.join(',')}`);
      if (parsed.members.some((m) => m.isLearner)) bad.push(`${n.name} sees a learner: ${names.join(',')}`);
      if (parsed.members.length !== expectedMembers) bad.push(`${n.name} sees ${parsed.members.length} members, not ${expectedMembers}: ${names.join(',')}`);
    }
    return result('no-learner', bad.length === 0, bad.length > 0 ? bad.join('; ') : seen.join('; '));
  });
}

/** Every private key the agent wrote (pki dir, state dir) is mode 0600. */
export function keysPrivate(nodes: TrialNode[]): Promise<InvariantResult> {
  return guarded('keys-0600', () => {
    const bad: string[] = [];
    let checked = 0;
    for (const n of nodes) {
      for (const f of [...filesUnder(pkiDir(n.root)), ...filesUnder(stateDir(n.root))].filter((p) => p.endsWith('.key'))) {
        checked++;
        const mode = statSync(f).mode & 0o777;
        if (mode !== 0o600) bad.push(`${f}: mode ${mode.toString(8)}`);
      }
    }
    return result('keys-0600', bad.length === 0 && checked > 0, bad.length > 0 ? bad.join('; ') : `${checked} key files are 0600`);
  });
}

/** The join token appears in no log file, /status, /metrics, nor any command line of the nodes' processes. */
export function tokenHidden(nodes: TrialNode[], token: string): Promise<InvariantResult> {
  return guarded('token-hidden', async () => {
    const leaks: string[] = [];
    for (const n of nodes) {
      for (const f of n.logFiles()) if (existsSync(f) && readFileSync(f, 'utf8').includes(token)) leaks.push(`${f}`);
      for (const path of ['/status', '/metrics']) {
        const r = await n.get(path).catch(() => undefined);
        if (r?.body.includes(token)) leaks.push(`${n.name} ${path}`);
      }
      for (const pid of n.pids()) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(token)) leaks.push(`${n.name} pid ${pid} command line`);
        } catch {
          // gone
        }
      }
    }
    return result('token-hidden', leaks.length === 0, leaks.length > 0 ? `token found in ${leaks.join(', ')}` : 'not in logs, /status, /metrics, command lines');
  });
}

export interface Recovery {
  ms: number | null;
  detail: string;
}

/** Waits (bounded) until every node's /status says formed and ready and /readyz answers 200; measured from `from`. */
export async function waitAllReady(nodes: TrialNode[], from: number, boundMs: number): Promise<Recovery> {
  const deadline = from + boundMs;
  let last = '';
  for (;;) {
    const states = await Promise.all(
      nodes.map(async (n) => {
        try {
          const s = JSON.parse((await n.get('/status')).body) as StatusReport;
          const readyz = s.phase === 'formed' && s.ready ? (await n.get('/readyz')).status : 0;
          return { ok: readyz === 200, text: `${n.name}: ${s.phase}${s.ready ? ' ready' : ''} (${s.reason})` };
        } catch (err) {
          return { ok: false, text: `${n.name}: no status (${err instanceof Error ? err.message : String(err)})` };
        }
      }),
    );
    last = states.map((s) => s.text).join('; ');
    if (states.every((s) => s.ok)) return { ms: Date.now() - from, detail: last };
    if (Date.now() > deadline) return { ms: null, detail: `not all ready ${boundMs} ms after the fault healed: ${last}` };
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function readyWithinBound(recovery: Recovery, boundMs: number): InvariantResult {
  return result('ready-within-bound', recovery.ms !== null, recovery.ms !== null ? `all ready ${recovery.ms} ms after heal/restart (bound ${boundMs} ms)` : recovery.detail);
}

/** All invariants after a trial, in a fixed order. */
export async function checkAll(nodes: TrialNode[], o: { token: string; recovery: Recovery; boundMs: number; writes?: { prefix: string; acked: string[] } }): Promise<InvariantResult[]> {
  const out = [readyWithinBound(o.recovery, o.boundMs), await oneClusterId(nodes), await oneCa(nodes)];
  if (o.writes) out.push(await noLostWrite(nodes, o.writes.prefix, o.writes.acked));
  out.push(await filesParse(nodes), await snapshotsIntact(nodes), await noLearner(nodes, nodes.length), await keysPrivate(nodes), await tokenHidden(nodes, o.token));
  return out;
}

/** Each node's phase (from /status) right now, for the fault record. */
export async function phasesNow(nodes: TrialNode[]): Promise<Record<string, string>> {
  const phases: Record<string, string> = {};
  await Promise.all(
    nodes.map(async (n) => {
      try {
        phases[n.name] = (JSON.parse((await n.get('/status')).body) as StatusReport).phase;
      } catch {
        phases[n.name] = '(no status)';
      }
    }),
  );
  return phases;
}
