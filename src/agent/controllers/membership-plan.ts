/**
 * The membership planner: a pure function from what the membership controller
 * observed (members, their health, learners' progress, the wanted size, the
 * queue of joiners and the admission records) to ONE action, plus the answer
 * each waiting joiner gets. Talos-style reconcile: the controller runs it
 * under the cluster-wide lock every round, does the one action, and looks
 * again; nothing here remembers anything between rounds.
 *
 * The rules are an ordered list (`JOIN_RULES`); the first that returns an
 * action wins. Repair rules (dead members, reinstalls, wiped data dirs) live
 * in their own module and are put in front of these by the controller, so
 * the two sets can grow apart without touching each other.
 *
 * Invariants every rule keeps (and the unit table checks):
 * - at most one learner at a time: nothing is added while a learner exists;
 * - a learner is promoted only when it has started, knows the leader and holds
 *   ≥90 % of the leader's log (3.4.23 would promote one that never started);
 * - no change while the healthy voters are not a quorum, and no promotion or
 *   removal that would leave fewer healthy voters than the new quorum;
 * - joiners are taken in queue order (first ask first, then node id);
 * - a learner that has not started or made progress within the learner
 *   timeout is removed, so it can never block later joins.
 */
import type { AdmittedRecord, CandidateRecord, JoinRecord } from '../../etcd/records.js';
import { formatDuration } from '../../util/duration.js';

export interface PlanMember {
  /** Hex. */
  id: string;
  /** '' while unstarted. */
  name: string;
  peerUrls: string[];
  isLearner: boolean;
  healthy: boolean;
}

/** What the controller measured of one learner this round. */
export interface LearnerState {
  memberId: string;
  /** When it was added (its admission record), or first seen by this controller. */
  since: number;
  /** The last time its raft index moved forward (`since` when never). */
  progressAt: number;
  /** Its own etcd answers. */
  started: boolean;
  /** Started, knows the leader, and holds ≥90 % of the leader's log. */
  caughtUp: boolean;
  /** In words ("raft index 80 of the leader's 100"). */
  detail: string;
}

export interface PlanInput {
  now: number;
  /** The wanted number of voters (the `size` record). */
  wantedSize: number;
  members: PlanMember[];
  learners: LearnerState[];
  /** Waiting joiners (any order; the planner sorts them). */
  joins: JoinRecord[];
  admitted: AdmittedRecord[];
  learnerTimeoutMs: number;
  /** Members a scale-down never removes: this node, the leader, the CA holder. */
  protectedIds: string[];
  /** When the member list last changed, as this node saw it (its own clock). */
  lastChangeAt?: number;
}

/**
 * etcd (strict reconfig check) refuses to add a member, learner or not, until
 * every voter has been connected for its health interval (5 s): "unhealthy
 * cluster". Adding waits that long after the member list last changed.
 */
export const ADD_SETTLE_MS = 5000;

export type PlanAction =
  | { kind: 'none'; reason: string }
  | { kind: 'add-learner'; joiner: JoinRecord; peerUrl: string; reason: string }
  /** A learner whose admission record was never written (the adder died in between): write it now. */
  | { kind: 'record-admitted'; memberId: string; joiner: JoinRecord; reason: string }
  | { kind: 'promote'; memberId: string; name: string; nodeId: string | undefined; reason: string }
  | { kind: 'remove-learner'; memberId: string; name: string; nodeId: string | undefined; reason: string }
  | { kind: 'remove-voter'; memberId: string; name: string; reason: string }
  /** An admission record whose learner is gone or already a voter. */
  | { kind: 'forget-admitted'; nodeId: string; name: string; reason: string };

export type ActionKind = PlanAction['kind'];

export interface JoinAnswer {
  state: 'queued' | 'spare' | 'admitted' | 'refused';
  reason: string;
}

export interface MembershipPlan {
  action: PlanAction;
  /** The answer for every waiting or admitted joiner, by node id. */
  answers: Map<string, JoinAnswer>;
  voters: number;
  learners: number;
}

/** Facts derived once from the input, shared by the rules. */
export interface PlanFacts {
  voters: PlanMember[];
  learnerMembers: PlanMember[];
  healthyVoters: number;
  admittedByMember: Map<string, AdmittedRecord>;
  admittedByNode: Map<string, AdmittedRecord>;
  /** Joiners without an admission, first ask first. */
  queue: JoinRecord[];
}

export type PlanRule = (input: PlanInput, facts: PlanFacts) => PlanAction | undefined;

export const quorumOf = (voters: number): number => Math.floor(voters / 2) + 1;

/** The etcd peer URL a candidate's member has (as etcd.conf advertises it). */
export function peerUrlOf(c: Pick<CandidateRecord, 'address' | 'etcdPeerPort'>): string {
  const host = c.address.includes(':') ? `[${c.address}]` : c.address;
  return `https://${host}:${c.etcdPeerPort}`;
}

/** Durations in reasons, to the second. */
const human = (ms: number): string => formatDuration(Math.round(ms / 1000) * 1000) || '0s';

const memberLabel = (m: PlanMember, admitted?: AdmittedRecord): string => m.name || admitted?.candidate.name || `unstarted ${m.id}`;

export function planFacts(input: PlanInput): PlanFacts {
  const voters = input.members.filter((m) => !m.isLearner);
  const learnerMembers = input.members.filter((m) => m.isLearner);
  const admittedByMember = new Map(input.admitted.map((a) => [a.memberId, a]));
  const admittedByNode = new Map(input.admitted.map((a) => [a.candidate.nodeId, a]));
  const queue = input.joins
    .filter((j) => !admittedByNode.has(j.candidate.nodeId))
    .sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : a.candidate.nodeId < b.candidate.nodeId ? -1 : 1));
  return { voters, learnerMembers, healthyVoters: voters.filter((m) => m.healthy).length, admittedByMember, admittedByNode, queue };
}

/**
 * The member a joiner would clash with: one already under its name or its
 * etcd peer URL (other than the learner it was admitted as).
 */
export function clashingMember(join: JoinRecord, input: PlanInput, facts: PlanFacts): PlanMember | undefined {
  const own = facts.admittedByNode.get(join.candidate.nodeId)?.memberId;
  const url = peerUrlOf(join.candidate);
  return input.members.find((m) => m.id !== own && ((m.name !== '' && m.name === join.candidate.name) || m.peerUrls.includes(url)));
}

// ---- the rules, in order ------------------------------------------------------

/** Admission records that outlived their learner (removed, or promoted when the delete failed). */
const forgetStaleAdmissions: PlanRule = (input, facts) => {
  for (const a of input.admitted) {
    const m = input.members.find((x) => x.id === a.memberId);
    if (!m) return { kind: 'forget-admitted', nodeId: a.candidate.nodeId, name: a.candidate.name, reason: `learner ${a.memberId} of ${a.candidate.name} is no longer a member` };
    if (!m.isLearner) return { kind: 'forget-admitted', nodeId: a.candidate.nodeId, name: a.candidate.name, reason: `${a.candidate.name} is a voter now` };
  }
  return undefined;
};

/** No membership change while the healthy voters are not a quorum: etcd could not commit it, and a wrong guess costs the cluster. */
const requireQuorum: PlanRule = (_input, facts) => {
  const need = quorumOf(facts.voters.length);
  if (facts.healthyVoters >= need) return undefined;
  return { kind: 'none', reason: `only ${facts.healthyVoters} of ${facts.voters.length} voters are healthy (quorum is ${need}): no membership change until the cluster is healthy` };
};

/** A learner's fate: promote it once it runs and has caught up; remove it when it has not within the learner timeout. */
const handleLearners: PlanRule = (input, facts) => {
  for (const m of facts.learnerMembers) {
    const admitted = facts.admittedByMember.get(m.id);
    const name = memberLabel(m, admitted);
    const state = input.learners.find((l) => l.memberId === m.id);
    if (!admitted) {
      // Added by a member that died before writing the admission record: adopt it for the joiner it was added for.
      const joiner = facts.queue.find((j) => m.peerUrls.includes(peerUrlOf(j.candidate)));
      if (joiner) return { kind: 'record-admitted', memberId: m.id, joiner, reason: `learner ${m.id} was added for ${joiner.candidate.name} but its admission was never recorded` };
    }
    if (facts.voters.length >= input.wantedSize) {
      // The wanted size dropped (cluster resize) while it was being added: it would be one voter too many.
      return { kind: 'remove-learner', memberId: m.id, name, nodeId: admitted?.candidate.nodeId, reason: `the cluster already has ${facts.voters.length} of ${input.wantedSize} wanted voters` };
    }
    if (state?.caughtUp) {
      // Safe by requireQuorum: healthy ≥ quorum(v) gives healthy + 1 ≥ quorum(v + 1) once the caught-up learner votes.
      return { kind: 'promote', memberId: m.id, name, nodeId: admitted?.candidate.nodeId, reason: `learner ${name} runs and has caught up (${state.detail})` };
    }
    const since = state?.since ?? input.now;
    const idle = input.now - Math.max(since, state?.progressAt ?? since);
    if (idle >= input.learnerTimeoutMs) {
      const what = state?.started ? `made no progress for ${human(idle)} (${state.detail})` : `has not started within ${human(input.now - since)}`;
      return { kind: 'remove-learner', memberId: m.id, name, nodeId: admitted?.candidate.nodeId, reason: `learner ${name} ${what}; the learner timeout is ${human(input.learnerTimeoutMs)}` };
    }
    const waiting = state ? (state.started ? `to catch up (${state.detail})` : 'to start') : 'to be measured';
    return { kind: 'none', reason: `waiting for learner ${name} ${waiting}; one learner at a time` };
  }
  return undefined;
};

/** Fewer voters than wanted: add the first joiner in the queue as a learner. */
const admitNextJoiner: PlanRule = (input, facts) => {
  if (facts.voters.length >= input.wantedSize) return undefined;
  if (input.members.some((m) => !m.isLearner && m.name === '')) {
    return { kind: 'none', reason: 'a voter has not started yet; etcd refuses changes until it has' };
  }
  for (const joiner of facts.queue) {
    if (clashingMember(joiner, input, facts)) continue;
    const settled = input.lastChangeAt === undefined ? Number.POSITIVE_INFINITY : input.now - input.lastChangeAt;
    if (settled < ADD_SETTLE_MS) {
      return { kind: 'none', reason: `${joiner.candidate.name} is next; waiting ${human(ADD_SETTLE_MS - settled)} after the last membership change (etcd adds a member only when every voter has been connected for 5s)` };
    }
    const open = input.wantedSize - facts.voters.length;
    return {
      kind: 'add-learner',
      joiner,
      peerUrl: peerUrlOf(joiner.candidate),
      reason: `cluster has ${facts.voters.length} of ${input.wantedSize} wanted voters (${open} open); ${joiner.candidate.name} is first in the queue`,
    };
  }
  return undefined;
};

/**
 * More voters than wanted (after `cluster resize` down): remove one, never a
 * protected one (this node, the leader, the CA holder), unhealthy ones first,
 * and never below quorum of the healthy voters that remain.
 */
const scaleDown: PlanRule = (input, facts) => {
  if (facts.voters.length <= input.wantedSize) return undefined;
  const candidates = facts.voters
    .filter((m) => !input.protectedIds.includes(m.id))
    .sort((a, b) => (a.healthy === b.healthy ? (a.name < b.name ? 1 : -1) : a.healthy ? 1 : -1));
  const victim = candidates[0];
  if (!victim) return { kind: 'none', reason: `cluster has ${facts.voters.length} voters for ${input.wantedSize} wanted, but every voter left is protected (this node, the leader, the CA holder)` };
  const healthyAfter = facts.healthyVoters - (victim.healthy ? 1 : 0);
  if (healthyAfter < quorumOf(facts.voters.length - 1)) {
    return { kind: 'none', reason: `cluster has ${facts.voters.length} voters for ${input.wantedSize} wanted, but removing ${victim.name} would leave ${healthyAfter} healthy voters, below quorum` };
  }
  return { kind: 'remove-voter', memberId: victim.id, name: memberLabel(victim), reason: `cluster has ${facts.voters.length} voters and ${input.wantedSize} are wanted` };
};

/** The rules of joining, promotion, learner timeout and resize, in order. */
export const JOIN_RULES: readonly PlanRule[] = [forgetStaleAdmissions, requireQuorum, handleLearners, admitNextJoiner, scaleDown];

/**
 * One action for this round, and every joiner's answer. `before` are rules
 * that take precedence (the repair rules); the join rules follow.
 */
export function planMembership(input: PlanInput, before: readonly PlanRule[] = []): MembershipPlan {
  const facts = planFacts(input);
  let action: PlanAction | undefined;
  for (const rule of [...before, ...JOIN_RULES]) {
    action = rule(input, facts);
    if (action) break;
  }
  action ??= { kind: 'none', reason: steadyReason(input, facts) };
  return { action, answers: answerJoiners(input, facts, action), voters: facts.voters.length, learners: facts.learnerMembers.length };
}

function steadyReason(input: PlanInput, facts: PlanFacts): string {
  const v = facts.voters.length;
  if (v < input.wantedSize) return `cluster has ${v} of ${input.wantedSize} wanted voters; waiting for a joiner`;
  const spares = facts.queue.length;
  return `cluster has ${v} of ${input.wantedSize} voters${spares > 0 ? `; ${spares} spare${spares === 1 ? '' : 's'} waiting` : ''}`;
}

/** What each joiner is told: admitted, refused (and why), queued (and its place), or spare. */
export function answerJoiners(input: PlanInput, facts: PlanFacts, action: PlanAction): Map<string, JoinAnswer> {
  const answers = new Map<string, JoinAnswer>();
  for (const a of input.admitted) {
    const m = input.members.find((x) => x.id === a.memberId);
    if (m?.isLearner) answers.set(a.candidate.nodeId, { state: 'admitted', reason: `added as learner ${a.memberId}; start etcd and catch up to be promoted` });
  }
  const voters = facts.voters.length;
  const pendingLearners = facts.learnerMembers.length;
  let open = Math.max(0, input.wantedSize - voters - pendingLearners);
  let position = 0;
  const queued = facts.queue.filter((j) => !answers.has(j.candidate.nodeId));
  for (const joiner of queued) {
    const clash = clashingMember(joiner, input, facts);
    if (clash) {
      const health = clash.healthy ? 'healthy' : 'unhealthy';
      answers.set(joiner.candidate.nodeId, {
        state: 'refused',
        reason: `member ${clash.id} (${clash.name || 'unstarted'}, ${health}) already has ${clash.name === joiner.candidate.name ? `the name "${joiner.candidate.name}"` : `the peer URL ${peerUrlOf(joiner.candidate)}`}; give this host another name and address, or remove that member`,
      });
      continue;
    }
    if (open === 0) {
      answers.set(joiner.candidate.nodeId, { state: 'spare', reason: `cluster has ${voters} of ${input.wantedSize} voters; this node replaces the first member that fails` });
      continue;
    }
    open -= 1;
    position += 1;
    const adding = action.kind === 'add-learner' && action.joiner.candidate.nodeId === joiner.candidate.nodeId;
    const learner = facts.learnerMembers[0];
    const blocker = learner ? `one learner at a time: ${memberLabel(learner, facts.admittedByMember.get(learner.id))} is being added` : undefined;
    const reason = adding
      ? `being added as a learner now (cluster has ${voters} of ${input.wantedSize} voters)`
      : `queued, position ${position}: ${blocker ?? (position === 1 ? 'next to be added' : 'after the joiners before it')} (cluster has ${voters} of ${input.wantedSize} voters)`;
    answers.set(joiner.candidate.nodeId, { state: 'queued', reason });
  }
  return answers;
}

/**
 * The rule of `etcd-agent cluster resize N` (README "Joining, spares and
 * resizing"): N ≥ 1, the healthy voters must be a quorum of all voters (or
 * the change could not be committed), and N ≥ quorum of the voters healthy
 * now — a resize can at most halve the healthy part of the cluster, so a
 * typo cannot ask the controller to strip it below what keeps it running.
 * Returns the reason to refuse, or undefined.
 */
export function resizeRefusal(n: number, voters: number, healthyVoters: number): string | undefined {
  if (!Number.isInteger(n) || n < 1) return `a wanted size of ${n} is not allowed; it must be a whole number of at least 1`;
  if (healthyVoters < quorumOf(voters)) {
    return `only ${healthyVoters} of ${voters} voters are healthy, not a quorum (${quorumOf(voters)}): the cluster cannot take a change now; bring it back to health first`;
  }
  const floor = quorumOf(healthyVoters);
  if (n < floor) {
    return `a wanted size of ${n} is below the quorum of the ${healthyVoters} healthy voters (${floor}); the smallest size allowed now is ${floor} — a resize can at most halve the healthy voters`;
  }
  return undefined;
}
