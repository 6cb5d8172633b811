/**
 * kill -9 trials on loopback agents (NodeSet: real agents, real etcd, the
 * `process` service manager): during bootstrap (kill-bootstrap) and on a
 * formed cluster with a writer running (kill-formed).
 */
import { readFileSync } from 'node:fs';
import { generateToken } from '../src/pki/index.js';
import { NodeSet, type TestNode } from '../test/helpers/agents.js';
import { startWriter, type WriterReport } from '../test/helpers/writer.js';
import { killAndWait, pidsWithCwdUnder } from './access.js';
import { checkAll, phasesNow, waitAllReady } from './invariants.js';
import { loopbackNode } from './loopback.js';
import type { FaultKind, TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

/** Bound on "every node ready after the restart"; generous for a loaded 2-CPU machine, it only matters on failure. */
export const RECOVERY_BOUND_MS = 120_000;
const FORM_BOUND_MS = 120_000;

type Target = 'agent' | 'etcd' | 'both';

async function killNode(set: NodeSet, node: TestNode, target: Target): Promise<Record<string, unknown>> {
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
    const pid = set.etcdPid(node);
    // Only an etcd that is running now: before formation there may be none (or a stale pid file).
    const live = pid !== undefined && pidsWithCwdUnder(node.root).includes(pid);
    killed.etcdPid = live ? pid : null;
    if (live && pid !== undefined) await killAndWait([pid]);
  }
  return killed;
}

/** Stops every agent and every etcd of the set (including etcds a killed agent left behind), then removes the roots. */
async function teardown(set: NodeSet): Promise<void> {
  await set.cleanup(true);
  const left = set.nodes.flatMap((n) => pidsWithCwdUnder(n.root));
  await killAndWait(left);
  await set.cleanup(process.env.KEEP_TEST_DIRS === '1');
}

function acked(report: WriterReport): string[] {
  return report.keys;
}

export interface LoopbackOptions {
  seed: number;
  /** Third octet of the loopback /24 to use (127.0.X.0/24). */
  subnet: number;
}

export async function runKillTrial(kind: Extract<FaultKind, 'kill-bootstrap' | 'kill-formed'>, o: LoopbackOptions): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind, seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  const prefix = `/trial/${o.seed}/`;
  try {
    await set.init();
    const nodes = set.nodes.map((n) => loopbackNode(set, n));
    for (const n of set.nodes) set.start(n);
    const started = Date.now();
    if (kind === 'kill-formed') {
      await set.waitFormed(set.nodes, FORM_BOUND_MS);
      record.fault.formedAfterMs = Date.now() - started;
      const first = set.nodes[0]!;
      writer = startWriter(
        set.nodes.map((n) => `https://${n.address}:2379`),
        { caPem: readFileSync(set.pki(first, 'ca.crt'), 'utf8'), certPem: readFileSync(set.pki(first, 'etcdctl.crt'), 'utf8'), keyPem: readFileSync(set.pki(first, 'etcdctl.key'), 'utf8') },
        prefix,
      );
    }
    const atMs = kind === 'kill-bootstrap' ? rng.int(0, 15_000) : rng.int(500, 8_000);
    const victimIndex = rng.int(0, 2);
    const target = rng.pick<Target>(['agent', 'etcd', 'both']);
    const restartDelayMs = rng.int(200, 3_000);
    const from = kind === 'kill-bootstrap' ? started : Date.now();
    await sleep(from + atMs - Date.now());
    const victim = set.nodes[victimIndex]!;
    const phases = await phasesNow(nodes);
    const killed = await killNode(set, victim, target);
    Object.assign(record.fault, { atMs, sinceStartMs: Date.now() - started, victim: victim.name, target, phases, killed, ...(target !== 'etcd' ? { restartDelayMs } : {}) });
    // The agent is restarted by hand after the delay (as systemd would); an etcd
    // killed alone is the agent's to restart, so its recovery counts from the kill.
    const killedAt = Date.now();
    if (target !== 'etcd') {
      await sleep(restartDelayMs);
      set.start(victim);
    }
    const healed = target === 'etcd' ? killedAt : Date.now();
    const recovery = await waitAllReady(nodes, healed, RECOVERY_BOUND_MS);
    record.recoveryMs = recovery.ms;
    let writes: { prefix: string; acked: string[] } | undefined;
    if (writer) {
      await sleep(1_000);
      const report = await writer.stop();
      record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs, firstFailures: report.failures.slice(0, 3) };
      writes = { prefix, acked: acked(report) };
    }
    record.invariants = await checkAll(nodes, { token, recovery, boundMs: RECOVERY_BOUND_MS, ...(writes ? { writes } : {}) });
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    await writer?.stop().catch(() => undefined);
    await teardown(set).catch((err: unknown) => {
      record.error = `${record.error ?? ''} teardown: ${String(err)}`.trim();
    });
    record.trialMs = Date.now() - began;
  }
  return record;
}
