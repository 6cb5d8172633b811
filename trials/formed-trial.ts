/**
 * The frame of every day-2 trial on a formed loopback cluster: three agents
 * with the trial's extra configuration, formed; a writer running; the fault
 * (the caller's); recovery; the invariants; teardown whatever happened.
 */
import { readFileSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generateToken } from '../src/pki/index.js';
import { NodeSet, cliAsync, type TestNode } from '../test/helpers/agents.js';
import { startWriter, type WriterReport } from '../test/helpers/writer.js';
import { killNode, closeTrial, FORM_BOUND_MS, RECOVERY_BOUND_MS, type LoopbackOptions, type Target } from './kill.js';
import { checkAll, waitAllReady, type Recovery } from './invariants.js';
import { loopbackNode } from './loopback.js';
import type { TrialNode } from './access.js';
import type { FaultKind, InvariantResult, TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

export interface FormedBed {
  set: NodeSet;
  nodes: TrialNode[];
  rng: Rng;
  record: TrialRecord;
}

export interface FaultOutcome {
  /** When the fault healed (restart, SIGCONT, space freed): recovery counts from here. */
  healed: number;
  /** What else must hold before the cluster counts as recovered (e.g. renewed, snapshotted again); bounded by the caller's deadline. */
  recovered?: (deadline: number) => Promise<Recovery>;
  /** Invariants of this fault kind, checked after the common ones. */
  extraChecks?: () => Promise<InvariantResult[]>;
}

export interface FormedTrialSpec {
  kind: FaultKind;
  /** YAML appended to every node's config before the first start. */
  config: string;
  fault(bed: FormedBed): Promise<FaultOutcome>;
}

/**
 * A writer whose client certificate outlives the trial: certificates issued
 * with a short pki.certValidity would expire under a writer that loaded the
 * node's own admin certificate once.
 */
async function longLivedWriter(set: NodeSet, prefix: string): Promise<{ stop(): Promise<WriterReport> }> {
  const first = set.nodes[0]!;
  const dir = join(first.root, '..', 'trial-writer');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const r = await cliAsync(['cert', 'issue', '--name', 'trial-writer', '--out', dir, '--validity', '1h', '--config', first.configPath]);
  if (r.status !== 0) throw new Error(`cert issue for the trial writer failed (${r.status}): ${r.stderr}`);
  return startWriter(
    set.nodes.map((n) => `https://${n.address}:2379`),
    { caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), certPem: readFileSync(join(dir, 'trial-writer.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'trial-writer.key'), 'utf8') },
    prefix,
  );
}

/**
 * kill -9 of the victim's agent, etcd or both; the agent is started again
 * after `restartDelayMs`, as systemd would; an etcd killed alone is the
 * agent's to restart. Returns what was killed and when the fault healed.
 */
export async function killAndRestart(set: NodeSet, victim: TestNode, target: Target, restartDelayMs: number): Promise<{ killed: Record<string, unknown>; killedAt: number; healed: number }> {
  const killed = await killNode(set, victim, target);
  const killedAt = Date.now();
  if (target === 'etcd') return { killed, killedAt, healed: killedAt };
  await sleep(restartDelayMs);
  set.start(victim);
  return { killed, killedAt, healed: Date.now() };
}

export async function runFormedTrial(spec: FormedTrialSpec, o: LoopbackOptions): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind: spec.kind, seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  const prefix = `/trial/${o.seed}/`;
  try {
    await set.init();
    for (const n of set.nodes) await appendFile(n.configPath, spec.config);
    for (const n of set.nodes) set.start(n);
    const started = Date.now();
    await set.waitFormed(set.nodes, FORM_BOUND_MS);
    record.fault.formedAfterMs = Date.now() - started;
    writer = await longLivedWriter(set, prefix);
    const nodes = set.nodes.map((n) => loopbackNode(set, n));
    const outcome = await spec.fault({ set, nodes, rng, record });
    let recovery = await waitAllReady(nodes, outcome.healed, RECOVERY_BOUND_MS);
    if (recovery.ms !== null && outcome.recovered) {
      const more = await outcome.recovered(outcome.healed + RECOVERY_BOUND_MS);
      recovery = more.ms === null ? more : { ms: Math.max(recovery.ms, more.ms), detail: `${recovery.detail}; ${more.detail}` };
    }
    record.recoveryMs = recovery.ms;
    await sleep(1_000);
    const report = await writer.stop();
    record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs, firstFailures: report.failures.slice(0, 3) };
    record.invariants = await checkAll(nodes, { token, recovery, boundMs: RECOVERY_BOUND_MS, writes: { prefix, acked: report.keys } });
    if (outcome.extraChecks) record.invariants.push(...(await outcome.extraChecks()));
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    await closeTrial(record, set, writer, began);
  }
  return record;
}
