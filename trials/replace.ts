/**
 * kill-replace: a day-2 replacement under a second fault. Three loopback
 * voters and a spare (membership.deadAfter 10 s); one voter's host dies for
 * good (agent and etcd kill -9, never restarted: when it held the CA role,
 * CA failover is part of the trial); while the cluster removes it and
 * promotes the spare, a second kill -9 (agent, etcd or both) lands on one of
 * the three others at a random moment, and that agent is restarted as
 * systemd would. Afterwards the three live nodes must be one cluster of
 * three voters without the dead one, every acknowledged write readable.
 */
import { appendFile } from 'node:fs/promises';
import { generateToken } from '../src/pki/index.js';
import type { StatusReport } from '../src/agent/status/model.js';
import { NodeSet, type TestNode } from '../test/helpers/agents.js';
import type { WriterReport } from '../test/helpers/writer.js';
import { killAndWait, pidsWithCwdUnder } from './access.js';
import { checkAll, phasesNow } from './invariants.js';
import { DEAD_AFTER_S, FORM_BOUND_MS, RECOVERY_BOUND_MS, closeTrial, killNode, startSetWriter, type LoopbackOptions, type Target } from './kill.js';
import { loopbackNode } from './loopback.js';
import { waitReadyAndMembers } from './members.js';
import type { TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

/** Bound on the spare reporting phase `spare` after it starts. */
const SPARE_BOUND_MS = 60_000;

async function phaseOf(set: NodeSet, n: TestNode): Promise<StatusReport | undefined> {
  return set.status(n).catch(() => undefined);
}

/** Waits (bounded) until `ok` holds for the node's /status; throws with the last phase and reason. */
async function waitStatus(set: NodeSet, n: TestNode, what: string, ok: (s: StatusReport) => boolean, boundMs: number): Promise<StatusReport> {
  const deadline = Date.now() + boundMs;
  let last: StatusReport | undefined;
  while (Date.now() < deadline) {
    last = await phaseOf(set, n);
    if (last && ok(last)) return last;
    await sleep(250);
  }
  throw new Error(`${n.name} not ${what} within ${boundMs} ms: ${last ? `${last.phase} (${last.reason})` : 'no status'}`);
}

export async function runReplaceTrial(o: LoopbackOptions): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind: 'kill-replace', seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  const prefix = `/trial/${o.seed}/`;
  const deadAfter = `membership:\n  deadAfter: ${DEAD_AFTER_S}s\n`;
  try {
    await set.init();
    for (const n of set.nodes) await appendFile(n.configPath, deadAfter);
    for (const n of set.nodes) set.start(n);
    const started = Date.now();
    await set.waitFormed(set.nodes, FORM_BOUND_MS);
    record.fault.formedAfterMs = Date.now() - started;
    writer = startSetWriter(set, prefix);
    const spare = await set.addNode(4, set.nodes.slice(0, 3), token);
    await appendFile(spare.configPath, deadAfter);
    set.start(spare);
    await waitStatus(set, spare, 'a spare', (s) => s.phase === 'spare', SPARE_BOUND_MS);

    // The draws, in an order that is part of what a seed means.
    const dead = set.nodes[rng.int(0, 2)]!;
    const secondAtMs = rng.int(0, 25_000);
    const others = set.nodes.filter((n) => n !== dead);
    const victim = others[rng.int(0, others.length - 1)]!;
    const target = rng.pick<Target>(['agent', 'etcd', 'both']);
    const restartDelayMs = rng.int(200, 3_000);

    const holder = (await phaseOf(set, set.nodes.find((n) => n !== dead)!))?.caHolder?.name;
    const deadPhases = await phasesNow(set.nodes.map((n) => loopbackNode(set, n)));
    await killNode(set, dead, 'both');
    await killAndWait(pidsWithCwdUnder(dead.root));
    const diedAt = Date.now();
    await sleep(diedAt + secondAtMs - Date.now());
    const live = others.map((n) => loopbackNode(set, n));
    const phases = await phasesNow(live);
    const killed = await killNode(set, victim, target);
    const killedAt = Date.now();
    Object.assign(record.fault, {
      dead: dead.name,
      deadWasCaHolder: holder === dead.name,
      deadPhases,
      secondAtMs,
      sinceDeathMs: killedAt - diedAt,
      victim: victim.name,
      victimRole: victim === spare ? 'spare' : 'voter',
      target,
      phases,
      killed,
      ...(target !== 'etcd' ? { restartDelayMs } : {}),
    });
    let healed = killedAt;
    if (target !== 'etcd') {
      await sleep(restartDelayMs);
      set.start(victim);
      healed = Date.now();
    }
    // Recovery: the three live nodes ready and, as each one's etcd sees it, three voters without the dead one.
    const recovery = await waitReadyAndMembers(live, (ms) => ms.length === 3 && !ms.some((m) => m.isLearner || m.name === dead.name), `replaced (3 voters without ${dead.name})`, healed, RECOVERY_BOUND_MS);
    record.recoveryMs = recovery.ms;
    record.fault.replacedAfterDeathMs = recovery.membersMs === null ? null : healed + recovery.membersMs - diedAt;
    await sleep(1_000);
    const report = await writer.stop();
    record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs };
    record.invariants = await checkAll(live, { token, recovery, boundMs: RECOVERY_BOUND_MS, writes: { prefix, acked: report.keys } });
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    await closeTrial(record, set, writer, began);
  }
  return record;
}
