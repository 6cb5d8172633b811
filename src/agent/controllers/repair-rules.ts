/**
 * The repair half of membership planning (issue 10), as pure functions: which
 * member to remove so that a waiting replacement can take its seat, and which
 * joiner to refuse because its name belongs to a healthy member. The
 * membership planner (planMembership) asks here first; adding the
 * replacement as a learner, promoting it and the queue are its rules.
 *
 * Rules, in order (each one says why in its decision):
 * 1. Nothing is removed without a replacement waiting: a dead member may still
 *    come back, and removing it without adding another only shrinks the
 *    cluster's failure tolerance.
 * 2. Never while a learner is pending (etcd 3.4 allows one learner at a time,
 *    and a replacement must be promoted before the next change), unless the
 *    pending learner is the very member a same-name joiner replaces.
 * 3. Never the local member (the one planning is, by definition, alive).
 * 4. Never if the voters left would have fewer healthy members than their
 *    quorum (the quorum guard), nor leave no voter at all.
 * 5. A joiner with the NAME of an unhealthy member (a reinstalled host, a
 *    wiped data dir, a member removed while away) replaces that member at
 *    once, before anything else: no `deadAfter` wait. A joiner with the name
 *    of a healthy member is refused, naming the conflict.
 * 6. Otherwise, when the cluster has no room for the first waiting joiner
 *    (voters ≥ wanted size), the voter unhealthy for longest, if that is at
 *    least `deadAfter`, is removed so the joiner can be added in its place.
 *    With room (voters < wanted), the joiner is simply added (not a repair).
 */
import { formatDuration } from '../../util/duration.js';
import type { PlanAction, PlanRule } from './membership-plan.js';

export interface RepairMember {
  /** Hex member id. */
  id: string;
  /** '' for a learner that was added but never started. */
  name: string;
  isLearner: boolean;
  healthy: boolean;
  /** How long it has been unhealthy without a break, as this node observed it (0 when healthy). */
  unhealthyForMs: number;
}

export type JoinReason = 'fresh' | 'wiped' | 'removed';

export interface WaitingJoiner {
  nodeId: string;
  name: string;
  reason: JoinReason;
}

export interface RepairInput {
  members: RepairMember[];
  /** The local member (never removed by its own controller). */
  localMemberId: string;
  /** Wanted number of voters (the `size` record). */
  wantedSize: number;
  /** Joiners and spares that are waiting, oldest first. */
  waiting: WaitingJoiner[];
  deadAfterMs: number;
}

export type RemovalWhy = 'dead' | 'same-name';

export type RepairDecision =
  /** Nothing for the repair rules to do: the planner goes on with its own rules. */
  | { kind: 'none'; reason: string }
  /**
   * A removal is wanted but held back: by a pending learner (the join rules
   * deal with that learner first), or by a guard (quorum, the local member).
   */
  | { kind: 'blocked'; by: 'learner' | 'guard'; reason: string; replacement: string }
  | { kind: 'remove'; memberId: string; name: string; why: RemovalWhy; replacement: string; reason: string };

export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Voters unhealthy for at least deadAfter, longest first. */
export function deadVoters(members: readonly RepairMember[], deadAfterMs: number): RepairMember[] {
  return members
    .filter((m) => !m.isLearner && !m.healthy && m.unhealthyForMs >= deadAfterMs)
    .sort((a, b) => b.unhealthyForMs - a.unhealthyForMs);
}

/**
 * Why removing `member` would break quorum (or is otherwise never allowed),
 * or undefined when it may be removed.
 */
export function removalGuard(members: readonly RepairMember[], member: RepairMember, localMemberId: string): string | undefined {
  if (member.id === localMemberId) return `${label(member)} is this node's own member`;
  if (member.isLearner) return undefined; // a learner has no vote: removing it never touches quorum
  const votersAfter = members.filter((m) => !m.isLearner && m.id !== member.id);
  const healthyAfter = votersAfter.filter((m) => m.healthy).length;
  if (votersAfter.length === 0) return `removing ${label(member)} would leave no voting member`;
  const need = quorumOf(votersAfter.length);
  if (healthyAfter < need) {
    return `removing ${label(member)} would leave ${healthyAfter} healthy of ${votersAfter.length} voters, fewer than their quorum of ${need}`;
  }
  return undefined;
}

/**
 * Why a joiner may not have its name (the name of a healthy member), or
 * undefined. The membership controller answers /v1/join with `refused` and
 * this reason; nothing changes in the cluster.
 */
export function nameConflict(joiner: { name: string; nodeId: string }, members: readonly RepairMember[]): string | undefined {
  const holder = members.find((m) => m.name === joiner.name);
  if (!holder || !holder.healthy) return undefined;
  return (
    `the name "${joiner.name}" belongs to healthy ${holder.isLearner ? 'learner' : 'member'} ${holder.id}; ` +
    'a host can take over a member\'s name only while that member is down — give this host another name (node.name), or stop the other one first'
  );
}

export function planRepair(input: RepairInput): RepairDecision {
  const { members, waiting } = input;
  if (waiting.length === 0) {
    const dead = deadVoters(members, input.deadAfterMs);
    return {
      kind: 'none',
      reason: dead.length > 0 ? `${dead.map(label).join(', ')} dead, but no replacement is waiting: nothing is removed` : 'no joiner waiting',
    };
  }
  const learner = members.find((m) => m.isLearner);

  // Rule 5: same-name joiners (reinstalled, wiped, removed) first, in queue order.
  for (const joiner of waiting) {
    const old = members.find((m) => m.name === joiner.name);
    if (!old || old.healthy) continue; // no old member, or a refused claim: not a repair
    if (learner && learner.id !== old.id) {
      return { kind: 'blocked', by: 'learner', replacement: joiner.nodeId, reason: `${joiner.name} waits to replace its old member ${old.id}, but learner ${label(learner)} is pending` };
    }
    const guard = removalGuard(members, old, input.localMemberId);
    if (guard) return { kind: 'blocked', by: 'guard', replacement: joiner.nodeId, reason: `${joiner.name} waits to replace its old member ${old.id}: ${guard}` };
    return {
      kind: 'remove',
      memberId: old.id,
      name: old.name,
      why: 'same-name',
      replacement: joiner.nodeId,
      reason: `${joiner.name} came back ${reasonWords(joiner.reason)} while its member ${old.id} is unhealthy (for ${formatDuration(old.unhealthyForMs)}): replacing it at once`,
    };
  }

  // Rule 6: the first joiner that is not a refused name claim takes a dead member's seat, if it has no room.
  // (A same-name joiner never gets here: its member is healthy, so its claim is refused.)
  const next = waiting.find((j) => !members.some((m) => m.name === j.name));
  if (!next) return { kind: 'none', reason: 'no waiting joiner can be let in (each one claims a healthy member\'s name)' };
  const voters = members.filter((m) => !m.isLearner).length;
  if (voters < input.wantedSize) return { kind: 'none', reason: `${voters} of ${input.wantedSize} voters: ${next.name} is added without removing anyone` };
  const dead = deadVoters(members, input.deadAfterMs).filter((m) => m.id !== input.localMemberId);
  const victim = dead[0];
  if (!victim) return { kind: 'none', reason: `${voters} of ${input.wantedSize} voters and none dead: ${next.name} waits as a spare` };
  if (voters - 1 >= input.wantedSize) {
    // The replacement would not be added after the removal (more voters than wanted): removing would only shrink the cluster.
    return { kind: 'none', reason: `${label(victim)} dead, but ${voters - 1} voters would still be at least the wanted ${input.wantedSize}: no seat to give ${next.name}` };
  }
  if (learner) return { kind: 'blocked', by: 'learner', replacement: next.nodeId, reason: `${label(victim)} dead and ${next.name} waits, but learner ${label(learner)} is pending` };
  const guard = removalGuard(members, victim, input.localMemberId);
  if (guard) return { kind: 'blocked', by: 'guard', replacement: next.nodeId, reason: `${label(victim)} dead and ${next.name} waits, but ${guard}` };
  return {
    kind: 'remove',
    memberId: victim.id,
    name: victim.name,
    why: 'dead',
    replacement: next.nodeId,
    reason: `${label(victim)} unhealthy for ${formatDuration(victim.unhealthyForMs)} (dead after ${formatDuration(input.deadAfterMs)}): replaced by ${next.name}`,
  };
}

function label(m: RepairMember): string {
  return m.name ? `${m.name} (${m.id})` : `unstarted member ${m.id}`;
}

function reasonWords(reason: JoinReason): string {
  switch (reason) {
    case 'fresh':
      return 'reinstalled (a fresh agent)';
    case 'wiped':
      return 'with an empty data dir';
    case 'removed':
      return 'after it was removed';
  }
}

/** What the repair rule reads besides the planner's input. */
export interface RepairContext {
  /** Since when each member (by id) has been seen unhealthy (the health controller's clock). */
  unhealthySince: () => ReadonlyMap<string, number>;
  localMemberId: () => string | undefined;
  deadAfterMs: number;
}

/**
 * planRepair as a rule of the membership planner (placed before its join
 * rules): a removal becomes `remove-voter` / `remove-learner`; a removal held
 * back by a guard stops the round with the reason; otherwise (nothing to
 * repair, or a learner pending) the join rules decide.
 */
export function repairRule(ctx: RepairContext): PlanRule {
  return (input, facts): PlanAction | undefined => {
    const since = ctx.unhealthySince();
    const decision = planRepair({
      members: input.members.map((m) => {
        const from = since.get(m.id);
        return { id: m.id, name: m.name, isLearner: m.isLearner, healthy: m.healthy, unhealthyForMs: m.healthy || from === undefined ? 0 : Math.max(0, input.now - from) };
      }),
      localMemberId: ctx.localMemberId() ?? '',
      wantedSize: input.wantedSize,
      waiting: facts.queue.map((j) => ({ nodeId: j.candidate.nodeId, name: j.candidate.name, reason: j.reason })),
      deadAfterMs: ctx.deadAfterMs,
    });
    if (decision.kind === 'none') return undefined;
    if (decision.kind === 'blocked') return decision.by === 'learner' ? undefined : { kind: 'none', reason: decision.reason };
    const member = input.members.find((m) => m.id === decision.memberId);
    if (member?.isLearner) {
      return { kind: 'remove-learner', memberId: decision.memberId, name: decision.name, nodeId: facts.admittedByMember.get(decision.memberId)?.candidate.nodeId, reason: decision.reason };
    }
    return { kind: 'remove-voter', memberId: decision.memberId, name: decision.name, reason: decision.reason };
  };
}
