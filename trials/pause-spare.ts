/**
 * pause-spare: a frozen voter with a spare waiting. Three loopback voters and
 * a spare (membership.deadAfter 10 s), a writer running; one voter's agent
 * and etcd are stopped together (SIGSTOP, a frozen host) for 12–60 s, then
 * resumed. A pause that outlasts deadAfter and the removal lets the cluster
 * replace the frozen member with the spare while it cannot see it; the
 * frozen member then wakes up to a cluster that removed it, and must join it
 * again (as the new spare), never serve or bootstrap on its own. A shorter
 * pause races the replacement. Afterwards: three voters ready, the fourth
 * node a spare, one cluster id on all four (a node whose etcd answers with
 * another id is a split brain), every acknowledged write readable.
 */
import type { StatusReport } from '../src/agent/status/model.js';
import type { TestNode } from '../test/helpers/agents.js';
import { nodePids, RECOVERY_BOUND_MS, signalAll, type LoopbackOptions } from './kill.js';
import { checkAll, oneClusterId, phasesNow, type Recovery } from './invariants.js';
import { votersOnly, waitReadyAndMembers } from './members.js';
import { statusOf } from './node-status.js';
import { runSpareTrial, type SpareBed } from './spare-trial.js';
import type { TrialRecord } from './record.js';
import { sleep } from './rng.js';

/** Waits until three nodes are formed and ready and the fourth says it is a spare; returns the three and the spare. */
async function waitThreeAndSpare(bed: SpareBed, from: number): Promise<{ voters: TestNode[]; spare: TestNode | undefined; detail: string; ms: number | null }> {
  const deadline = from + RECOVERY_BOUND_MS;
  let detail = '';
  for (;;) {
    const states = await Promise.all(bed.set.nodes.map(async (n) => ({ n, s: await statusOf(bed.trialNode(n)) })));
    const ready = states.filter(({ s }) => s?.phase === 'formed' && s.ready).map(({ n }) => n);
    const spares = states.filter(({ s }) => s?.phase === 'spare').map(({ n }) => n);
    detail = states.map(({ n, s }) => `${n.name}: ${describe(s)}`).join('; ');
    if (ready.length === 3 && spares.length === 1) return { voters: ready, spare: spares[0], detail, ms: Date.now() - from };
    if (Date.now() > deadline) return { voters: ready, spare: spares[0], detail: `not three ready voters and a spare within ${RECOVERY_BOUND_MS} ms: ${detail}`, ms: null };
    await sleep(250);
  }
}

function describe(s: StatusReport | undefined): string {
  return s ? `${s.phase}${s.ready ? ' ready' : ''} (${s.reason})` : 'no status';
}

async function pauseWithSpare(bed: SpareBed, record: TrialRecord): Promise<{ recovery: Recovery; voters: TestNode[] }> {
  const { set, rng, spare } = bed;
  // The draws, in an order that is part of what a seed means.
  const frozen = set.nodes[rng.int(0, 2)]!;
  const atMs = rng.int(500, 5_000);
  const pauseMs = rng.int(12_000, 60_000);

  await sleep(atMs);
  const holder = (await statusOf(bed.trialNode(set.nodes.find((n) => n !== frozen)!)))?.caHolder?.name;
  const phases = await phasesNow(set.nodes.map((n) => bed.trialNode(n)));
  const pids = nodePids(frozen);
  signalAll(pids, 'SIGSTOP');
  const stoppedAt = Date.now();
  try {
    await sleep(pauseMs);
  } finally {
    signalAll(pids, 'SIGCONT');
  }
  const resumed = Date.now();
  const outcome = await waitThreeAndSpare(bed, resumed);
  // What the membership controller did meanwhile, as a voter's /status lists it (ms from the SIGSTOP).
  const witness = outcome.voters.find((n) => n !== frozen) ?? set.nodes.find((n) => n !== frozen)!;
  const ops = (await statusOf(bed.trialNode(witness)))?.membership?.ops ?? [];
  Object.assign(record.fault, {
    frozen: frozen.name,
    frozenWasCaHolder: holder === frozen.name,
    atMs,
    pauseMs,
    stoppedForMs: resumed - stoppedAt,
    deadAfterMs: 10_000,
    pids,
    phases,
    spareBefore: spare.name,
    spareAfter: outcome.spare?.name ?? null,
    replaced: outcome.spare?.name === frozen.name,
    ops: ops.map((op) => ({ op: op.op, target: op.target, result: op.result, sinceStopMs: Date.parse(op.at) - stoppedAt })),
  });
  if (outcome.ms === null) return { recovery: { ms: null, detail: outcome.detail }, voters: outcome.voters };
  const voters = outcome.voters.map((n) => bed.trialNode(n));
  const members = await waitReadyAndMembers(voters, votersOnly(3), '3 voters, no learner', resumed, RECOVERY_BOUND_MS);
  return { recovery: members.ms === null ? members : { ms: Math.max(outcome.ms, members.ms), detail: `${outcome.detail}; members: ${members.detail}` }, voters: outcome.voters };
}

export function runPauseSpareTrial(o: LoopbackOptions): Promise<TrialRecord> {
  return runSpareTrial('pause-spare', o, async (bed, record, token, writes) => {
    const { recovery, voters } = await pauseWithSpare(bed, record);
    record.recoveryMs = recovery.ms;
    const all = bed.set.nodes.map((n) => bed.trialNode(n));
    const voterNodes = (voters.length === 3 ? voters : bed.set.nodes.slice(0, 3)).map((n) => bed.trialNode(n));
    const common = await checkAll(voterNodes, { token, recovery, boundMs: RECOVERY_BOUND_MS, writes: await writes() });
    // One cluster id on all four: the spare's etcd does not run, or answers with the cluster's id.
    const everyone = await oneClusterId(all);
    return [...common, { ...everyone, name: 'one-cluster-id-all-nodes' }];
  });
}
