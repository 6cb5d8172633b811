import { endpointHealthy, endpointStatus, listMembers, type EtcdTls } from '../../etcd/client.js';
import { describeError } from '../../util/errors.js';
import type { View } from '../peer/protocol.js';
import type { MemberStatus } from '../status/model.js';

export interface ClusterObservation {
  clusterId: string | null;
  localMemberId: string | null;
  leaderId: string | null;
  members: MemberStatus[];
  /** Every member of the initial view is started, healthy, and there is a leader. */
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
  // A learner serves no client request: it is not ready until promoted.
  const localHealthy = members.some((m) => m.id === localMemberId && m.healthy && !m.isLearner) && leaderId !== null;

  const problems: string[] = [];
  if (!leaderId) problems.push('no leader elected yet');
  if (members.some((m) => m.id === localMemberId && m.isLearner)) problems.push('this member is a learner, waiting to be promoted');
  for (const want of expected ?? []) {
    const m = members.find((x) => x.name === want.name);
    if (!m) problems.push(`${want.name} is not a member`);
    else if (m.clientUrls.length === 0) problems.push(`${want.name} has not started yet`);
    else if (!m.healthy) problems.push(`${want.name} unhealthy: ${m.reason ?? 'no answer'}`);
  }
  for (const m of members) {
    if (!expected?.some((w) => w.name === m.name) && !m.healthy) problems.push(`${m.name || m.id} unhealthy: ${m.reason ?? 'no answer'}`);
  }
  return {
    clusterId: listed.clusterId,
    localMemberId,
    leaderId,
    members,
    complete: problems.length === 0,
    localHealthy,
    reason: problems.length === 0 ? `all ${members.length} members healthy` : problems.join('; '),
  };
}

function empty(reason: string): ClusterObservation {
  return { clusterId: null, localMemberId: null, leaderId: null, members: [], complete: false, localHealthy: false, reason };
}
