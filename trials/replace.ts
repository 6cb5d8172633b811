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
import { killAndWait, pidsWithCwdUnder } from './access.js';
import { checkAll, phasesNow } from './invariants.js';
import { RECOVERY_BOUND_MS, killNode, type LoopbackOptions, type Target } from './kill.js';
import { waitReadyAndMembers } from './members.js';
import { statusOf } from './node-status.js';
import type { TrialRecord } from './record.js';
import { sleep } from './rng.js';
import { runSpareTrial } from './spare-trial.js';

export function runReplaceTrial(o: LoopbackOptions): Promise<TrialRecord> {
  return runSpareTrial('kill-replace', o, async ({ set, spare, rng, trialNode }, record, token, writes) => {
    // The draws, in an order that is part of what a seed means.
    const dead = set.nodes[rng.int(0, 2)]!;
    const secondAtMs = rng.int(0, 25_000);
    const others = set.nodes.filter((n) => n !== dead);
    const victim = others[rng.int(0, others.length - 1)]!;
    const target = rng.pick<Target>(['agent', 'etcd', 'both']);
    const restartDelayMs = rng.int(200, 3_000);

    const holder = (await statusOf(trialNode(set.nodes.find((n) => n !== dead)!)))?.caHolder?.name;
    const deadPhases = await phasesNow(set.nodes.map(trialNode));
    await killNode(set, dead, 'both');
    await killAndWait(pidsWithCwdUnder(dead.root));
    const diedAt = Date.now();
    await sleep(diedAt + secondAtMs - Date.now());
    const live = others.map(trialNode);
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
    return checkAll(live, { token, recovery, boundMs: RECOVERY_BOUND_MS, writes: await writes() });
  });
}
