/**
 * Trials on loopback agents (NodeSet: real agents, real etcd, the `process`
 * service manager): kill -9 during bootstrap (kill-bootstrap), on a formed
 * cluster with a writer running (kill-formed) and during the day-2 join of a
 * fourth node (kill-join); a node frozen with SIGSTOP on a formed cluster
 * with a writer running, then resumed (pause).
 */
import { readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { generateToken } from '../src/pki/index.js';
import { NodeSet, cliAsync, type TestNode } from '../test/helpers/agents.js';
import { startWriter, type WriterReport } from '../test/helpers/writer.js';
import { killAndWait, pidsWithCwdUnder, type TrialNode } from './access.js';
import { checkAll, phasesNow, waitAllReady } from './invariants.js';
import { loopbackNode } from './loopback.js';
import type { FaultKind, TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

/** Bound on "every node ready after the restart"; generous for a loaded 2-CPU machine, it only matters on failure. */
export const RECOVERY_BOUND_MS = 120_000;
export const FORM_BOUND_MS = 120_000;

export type Target = 'agent' | 'etcd' | 'both';

export async function killNode(set: NodeSet, node: TestNode, target: Target): Promise<Record<string, unknown>> {
  const killed: Record<string, unknown> = {};
  if (target !== 'etcd') {
    const proc = node.proc;
    const running = Boolean(proc && proc.exitCode === null && proc.signalCode === null);
    killed.agentPid = running ? proc?.pid : null;
    if (running && proc) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await Promise.race([exited, sleep(10_000)]);
    }
  }
  if (target !== 'agent') {
    let pid = liveEtcd(set, node);
    if (pid === undefined && target === 'etcd') {
      // Killing an etcd that does not run yet would be no fault at all: wait
      // (bounded) for the agent to start it and kill it right then, in its
      // first moments (starting-etcd, forming).
      const waitFrom = Date.now();
      while (pid === undefined && Date.now() - waitFrom < ETCD_WAIT_MS) {
        await sleep(50);
        pid = liveEtcd(set, node);
      }
      killed.waitedForEtcdMs = Date.now() - waitFrom;
    }
    killed.etcdPid = pid ?? null;
    if (pid !== undefined) await killAndWait([pid]);
  }
  return killed;
}

/** Bound on waiting for an etcd to kill when the fault is "kill etcd" and none runs yet. */
const ETCD_WAIT_MS = 60_000;

/** The node's etcd if it runs now: before formation there may be none (or a stale pid file). */
function liveEtcd(set: NodeSet, node: TestNode): number | undefined {
  const pid = set.etcdPid(node);
  return pid !== undefined && pidsWithCwdUnder(node.root).includes(pid) ? pid : undefined;
}

/** Stops every agent and every etcd of the set (including etcds a killed agent left behind), then removes the roots. */
export async function teardown(set: NodeSet): Promise<void> {
  await set.cleanup(true);
  const left = set.nodes.flatMap((n) => pidsWithCwdUnder(n.root));
  await killAndWait(left);
  await set.cleanup(process.env.KEEP_TEST_DIRS === '1');
}

/** The end of every loopback trial, whatever happened: the writer stopped, every process gone, the trial's wall time. */
export async function closeTrial(record: TrialRecord, set: NodeSet, writer: { stop(): Promise<WriterReport> } | undefined, began: number): Promise<void> {
  await writer?.stop().catch(() => undefined);
  await teardown(set).catch((err: unknown) => {
    record.error = `${record.error ?? ''} teardown: ${String(err)}`.trim();
  });
  record.trialMs = Date.now() - began;
}

export type LoopbackKind = Extract<FaultKind, 'kill-bootstrap' | 'kill-formed' | 'kill-join' | 'pause'>;

/** membership.deadAfter in pause trials. */
export const DEAD_AFTER_S = 10;

/**
 * kill -9 of the victim's agent, etcd or both at a random moment (from start
 * during bootstrap; from the writer's start on a formed cluster); returns when
 * the fault healed. The agent is restarted by hand after a short delay (as
 * systemd would); an etcd killed alone is the agent's to restart, so its
 * recovery counts from the kill.
 */
async function killFault(kind: LoopbackKind, set: NodeSet, nodes: TrialNode[], rng: Rng, record: TrialRecord, started: number): Promise<number> {
  // The order of the draws is part of what a seed means: keep it.
  // A join takes a few seconds on loopback: a shorter window lands in it more often.
  const atMs = kind === 'kill-formed' ? rng.int(500, 8_000) : kind === 'kill-join' ? rng.int(0, 8_000) : rng.int(0, 15_000);
  const victim = set.nodes[rng.int(0, set.nodes.length - 1)]!;
  const target = rng.pick<Target>(['agent', 'etcd', 'both']);
  const restartDelayMs = rng.int(200, 3_000);
  // kill-bootstrap: from the agents' start; kill-join: from the joiner's start; kill-formed: from now (the writer's start).
  const from = kind === 'kill-formed' ? Date.now() : started;
  await sleep(from + atMs - Date.now());
  const phases = await phasesNow(nodes);
  const killed = await killNode(set, victim, target);
  const killedAt = Date.now();
  Object.assign(record.fault, { atMs, sinceStartMs: killedAt - started, victim: victim.name, target, phases, killed, ...(target !== 'etcd' ? { restartDelayMs } : {}) });
  if (target === 'etcd') return killedAt;
  await sleep(restartDelayMs);
  set.start(victim);
  return Date.now();
}

/** Every process of a node: its agent and the etcd running in its state dir. */
export function nodePids(node: TestNode): number[] {
  return [...new Set([...(node.proc?.pid ? [node.proc.pid] : []), ...pidsWithCwdUnder(node.root)])];
}

export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/**
 * SIGSTOP of the victim's agent and etcd together (a frozen host) for 3–25 s,
 * so about half the pauses outlast membership.deadAfter; then SIGCONT.
 * Returns the moment of the SIGCONT.
 */
async function pauseFault(set: NodeSet, nodes: TrialNode[], rng: Rng, record: TrialRecord): Promise<number> {
  const atMs = rng.int(500, 8_000);
  const victim = set.nodes[rng.int(0, 2)]!;
  const pauseMs = rng.int(3_000, 25_000);
  await sleep(atMs);
  const phases = await phasesNow(nodes);
  const pids = nodePids(victim);
  signalAll(pids, 'SIGSTOP');
  Object.assign(record.fault, { atMs, victim: victim.name, pauseMs, deadAfterMs: DEAD_AFTER_S * 1000, outlastsDeadAfter: pauseMs > DEAD_AFTER_S * 1000, pids, phases });
  try {
    await sleep(pauseMs);
  } finally {
    signalAll(pids, 'SIGCONT');
  }
  return Date.now();
}

/** A writer (one put every 200 ms) to every node of the set, with node 1's admin certificate. */
export function startSetWriter(set: NodeSet, prefix: string): { stop(): Promise<WriterReport> } {
  const first = set.nodes[0]!;
  return startWriter(
    set.nodes.map((n) => `https://${n.address}:2379`),
    { caPem: readFileSync(set.pki(first, 'ca.crt'), 'utf8'), certPem: readFileSync(set.pki(first, 'etcdctl.crt'), 'utf8'), keyPem: readFileSync(set.pki(first, 'etcdctl.key'), 'utf8') },
    prefix,
  );
}

export interface LoopbackOptions {
  seed: number;
  /** Third octet of the loopback /24 to use (127.0.X.0/24). */
  subnet: number;
}

export async function runLoopbackTrial(kind: LoopbackKind, o: LoopbackOptions): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind, seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  const prefix = `/trial/${o.seed}/`;
  try {
    await set.init();
    // A short deadAfter, so a pause can outlast it (the minimum is 10 s).
    if (kind === 'pause') for (const n of set.nodes) await appendFile(n.configPath, `membership:\n  deadAfter: ${DEAD_AFTER_S}s\n`);
    for (const n of set.nodes) set.start(n);
    let started = Date.now();
    if (kind !== 'kill-bootstrap') {
      await set.waitFormed(set.nodes, FORM_BOUND_MS);
      record.fault.formedAfterMs = Date.now() - started;
      writer = startSetWriter(set, prefix);
    }
    if (kind === 'kill-join') {
      // Day 2: the wanted size goes to 4 and a fourth node joins (learner, then voter); the fault lands during that.
      const resize = await cliAsync(['cluster', 'resize', '4', '--config', set.nodes[0]!.configPath]);
      if (resize.status !== 0) throw new Error(`cluster resize 4 failed: ${resize.stderr}`);
      const joiner = await set.addNode(4, set.nodes.slice(0, 3), token);
      set.start(joiner);
      started = Date.now();
    }
    const nodes = set.nodes.map((n) => loopbackNode(set, n));
    const healed = kind === 'pause' ? await pauseFault(set, nodes, rng, record) : await killFault(kind, set, nodes, rng, record, started);
    const recovery = await waitAllReady(nodes, healed, RECOVERY_BOUND_MS);
    record.recoveryMs = recovery.ms;
    let writes: { prefix: string; acked: string[] } | undefined;
    if (writer) {
      await sleep(1_000);
      const report = await writer.stop();
      record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs, firstFailures: report.failures.slice(0, 3) };
      writes = { prefix, acked: report.keys };
    }
    record.invariants = await checkAll(nodes, { token, recovery, boundMs: RECOVERY_BOUND_MS, ...(writes ? { writes } : {}) });
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    await closeTrial(record, set, writer, began);
  }
  return record;
}
