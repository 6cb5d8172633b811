import { endpointHealthy, endpointStatus, listMembers, type EtcdTls } from '../../etcd/client.js';
import { describeError } from '../../util/errors.js';
import type { View } from '../peer/protocol.js';
import type { MemberStatus } from '../status/model.js';

export interface ClusterObservation {
  clusterId: string | null;
  localMemberId: string | null;
  leaderId: string | null;
  members: MemberStatus[];
  /** Formation is done as far as this member can tell: see judgeCluster. */
  complete: boolean;
  localHealthy: boolean;
  reason: string;
}

const TIMEOUT_MS = 3000;

/**
 * One bounded look at the cluster through the local member: the member list,
 * the local member's idea of the leader, and the health of every member.
 */
export async function observeCluster(localUrl: string, tls: EtcdTls, expected: View | undefined, fallbackUrls: string[] = []): Promise<ClusterObservation> {
  let listed;
  try {
    listed = await listMembers([localUrl], tls, TIMEOUT_MS);
  } catch (err) {
    // A learner answers Status and serializable reads only ("rpc not supported for learner"): list through the voters.
    const others = fallbackUrls.filter((u) => u !== localUrl);
    if (!/not supported for learner/i.test(describeError(err)) || others.length === 0) {
      return empty(`local etcd at ${localUrl} does not answer: ${describeError(err)}`);
    }
    try {
      listed = await listMembers(others, tls, TIMEOUT_MS);
    } catch (err2) {
      return empty(`local etcd is a learner, and no voter lists the members: ${describeError(err2)}`);
    }
  }
  let localMemberId: string | null = null;
  let leaderId: string | null = null;
  try {
    const status = await endpointStatus(localUrl, tls, TIMEOUT_MS);
    localMemberId = status.memberId;
    leaderId = status.leaderId === '0' ? null : status.leaderId;
  } catch (err) {
    return { ...empty(`local etcd status: ${describeError(err)}`), clusterId: listed.clusterId };
  }
  const members: MemberStatus[] = await Promise.all(
    listed.members.map(async (m) => {
      const url = m.clientUrls[0];
      const health = url ? await endpointHealthy(url, tls, TIMEOUT_MS) : { healthy: false, reason: 'not started yet' };
      return {
        name: m.name,
        id: m.id,
        peerUrls: m.peerUrls,
        clientUrls: m.clientUrls,
        isLearner: m.isLearner,
        healthy: health.healthy,
        ...(health.reason ? { reason: health.reason } : {}),
      };
    }),
  );
  const judged = judgeCluster(members, localMemberId, leaderId, expected);
  return { clusterId: listed.clusterId, localMemberId, leaderId, members, ...judged };
}

/**
 * What one look at the cluster says (pure). `complete` decides formation:
 * a leader, this member a healthy voter, and every member of the initial
 * view a member that has started (published its client URLs, which it does
 * through raft once it has joined). Another initial member that is
 * unhealthy *after* it started does not hold formation back: a host that
 * died for good right after the others came up would otherwise leave the
 * survivors forming forever, with the day-2 controllers that replace it
 * never started (found by ca-maker-dies: the CA maker was killed right after
 * it reported formed, before a slower member's first look). Such members
 * are still named in `reason`.
 */
export function judgeCluster(
  members: MemberStatus[],
  localMemberId: string | null,
  leaderId: string | null,
  expected: View | undefined,
): { complete: boolean; localHealthy: boolean; reason: string } {
  // A learner serves no client request: it is not ready until promoted.
  const local = members.find((m) => m.id === localMemberId);
  const localHealthy = local !== undefined && local.healthy && !local.isLearner && leaderId !== null;

  const sick = (m: MemberStatus) => `${m.name || m.id} unhealthy: ${m.reason ?? 'no answer'}`;
  const blocking: string[] = [];
  const unhealthy: string[] = [];
  if (!leaderId) blocking.push('no leader elected yet');
  if (!local) blocking.push('this member is not in the member list');
  else if (local.isLearner) blocking.push('this member is a learner, waiting to be promoted');
  else if (!local.healthy) blocking.push(sick(local));
  const notStarted = new Set<MemberStatus>();
  for (const want of expected ?? []) {
    const m = members.find((x) => x.name === want.name);
    if (!m) blocking.push(`${want.name} is not a member`);
    else if (m.clientUrls.length === 0) {
      blocking.push(`${want.name} has not started yet`);
      notStarted.add(m);
    }
  }
  for (const m of members) if (m !== local && !m.healthy && !notStarted.has(m)) unhealthy.push(sick(m));
  const problems = [...blocking, ...unhealthy];
  return {
    complete: blocking.length === 0,
    localHealthy,
    reason: problems.length === 0 ? `all ${members.length} members healthy` : problems.join('; '),
  };
}

function empty(reason: string): ClusterObservation {
  return { clusterId: null, localMemberId: null, leaderId: null, members: [], complete: false, localHealthy: false, reason };
}
