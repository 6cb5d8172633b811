/**
 * Membership changes through etcd's Cluster API, each one bounded (client.ts
 * `withClient`). Ids go in and come out in hex, as etcdctl prints them.
 *
 * etcd 3.4.23 facts these functions are written for: at most one learner at a
 * time ("too many learner members in cluster"); a learner is promoted only at
 * ≥90 % of the leader's log, but 3.4.23 promotes a learner that has never
 * started, so `learnerProgress` must be asked first; a learner answers only
 * Status and serializable reads; `--strict-reconfig-check` refuses a change
 * that would leave too few started members.
 */
import { describeError, isAgentError } from '../util/errors.js';
import { endpointStatus, hexToId, idToHex, withClient, type EtcdMember, type EtcdTls } from './client.js';
import { EtcdMemberOpRefused } from './errors.js';

export interface AddedMember {
  /** Hex. */
  memberId: string;
  /** Hex. */
  clusterId: string;
  /** Every member after the change (the new one included, unstarted: no name, no client URLs). */
  members: EtcdMember[];
}

function toMember(m: { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner?: boolean }): EtcdMember {
  return {
    id: idToHex(m.ID),
    name: m.name,
    peerUrls: [...m.peerURLs],
    clientUrls: [...m.clientURLs],
    isLearner: Boolean(m.isLearner),
  };
}

/** etcd's refusal of a membership change (an application error, not a transport one) becomes EA_ETCD_MEMBER_OP. */
async function memberOp<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isAgentError(err) && err.code !== 'EA_ETCD_UNREACHABLE') throw err;
    const reason = describeError(err);
    const etcdSays = /etcdserver: ([^\]\n]+)/.exec(reason)?.[1];
    if (etcdSays) throw EtcdMemberOpRefused(what, etcdSays.trim());
    throw err;
  }
}

/** `member add [--learner]`: the new member's id and the member list after the change. */
export function addMember(endpoints: string[], tls: EtcdTls, peerUrls: string[], isLearner: boolean, timeoutMs: number): Promise<AddedMember> {
  return memberOp(`add ${isLearner ? 'learner' : 'member'} ${peerUrls.join(',')}`, () =>
    withClient(endpoints, tls, timeoutMs, async (client) => {
      const res = await client.cluster.memberAdd({ peerURLs: peerUrls, isLearner });
      return {
        memberId: idToHex(res.member.ID),
        clusterId: idToHex(res.header.cluster_id),
        members: res.members.map(toMember),
      };
    }),
  );
}

export function promoteMember(endpoints: string[], tls: EtcdTls, memberId: string, timeoutMs: number): Promise<void> {
  return memberOp(`promote learner ${memberId}`, () =>
    withClient(endpoints, tls, timeoutMs, async (client) => {
      await client.cluster.memberPromote({ ID: hexToId(memberId) });
    }),
  );
}

export function removeMember(endpoints: string[], tls: EtcdTls, memberId: string, timeoutMs: number): Promise<void> {
  return memberOp(`remove member ${memberId}`, () =>
    withClient(endpoints, tls, timeoutMs, async (client) => {
      await client.cluster.memberRemove({ ID: hexToId(memberId) });
    }),
  );
}

export interface LearnerProgress {
  /** The learner's own etcd answered Status: it runs. */
  started: boolean;
  /** It knows the leader (it is connected to the cluster). */
  connected: boolean;
  /** Its raft index and the leader's, when both answered. */
  index: bigint | null;
  leaderIndex: bigint | null;
  /** In words, for logs and /status. */
  detail: string;
}

/** The share of the leader's log a learner must hold before promotion (etcd's own bar is 90 %). */
export const CAUGHT_UP_RATIO = 0.9;

/**
 * How far a learner is: asks the learner's own etcd (which answers Status even
 * as a learner) and the leader. Never throws; an unreachable learner is "not
 * started". 3.4.23 would promote a learner that never started, so this is
 * what the membership controller asks before promoting.
 */
export async function learnerProgress(learnerUrls: string[], leaderUrl: string | undefined, tls: EtcdTls, timeoutMs: number): Promise<LearnerProgress> {
  let learner;
  let lastProblem = 'it has no client URL yet (never started)';
  for (const url of learnerUrls) {
    try {
      learner = await endpointStatus(url, tls, timeoutMs);
      break;
    } catch (err) {
      lastProblem = describeError(err);
    }
  }
  if (!learner) return { started: false, connected: false, index: null, leaderIndex: null, detail: `its etcd does not answer: ${lastProblem}` };
  const connected = learner.leaderId !== '0';
  const index = BigInt(learner.raftIndex);
  if (!leaderUrl) return { started: true, connected, index, leaderIndex: null, detail: 'the leader is not known' };
  try {
    const leader = await endpointStatus(leaderUrl, tls, timeoutMs);
    const leaderIndex = BigInt(leader.raftIndex);
    return { started: true, connected, index, leaderIndex, detail: `raft index ${index} of the leader's ${leaderIndex}` };
  } catch (err) {
    return { started: true, connected, index, leaderIndex: null, detail: `the leader does not answer: ${describeError(err)}` };
  }
}

/** Started, connected, and holding at least 90 % of the leader's log. */
export function caughtUp(p: LearnerProgress): boolean {
  if (!p.started || !p.connected || p.index === null || p.leaderIndex === null) return false;
  // Integer arithmetic: index / leaderIndex >= 0.9.
  return p.index * 10n >= p.leaderIndex * BigInt(Math.round(CAUGHT_UP_RATIO * 10));
}
