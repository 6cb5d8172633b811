/**
 * Is this node's member still in the cluster? A member removed while it was
 * away (partitioned, powered off, replaced by a spare) learns it only when
 * its etcd exits "the member has been permanently removed from the cluster"
 * — and restarting it changes nothing (k3s#13623, rke2#2857: such nodes then
 * get reset into a second cluster by hand). The agent asks the other members
 * instead, and acts only on an answer it can trust:
 *
 * - only a member that is healthy right now counts — it knows a leader and
 *   answered a linearizable read, so its member list has applied every
 *   change committed before the read (a stale or partitioned member might not
 *   know of our own addition yet, and would wrongly say we are gone);
 * - only a member of our cluster id counts;
 * - removal is final (etcd never reuses a member id), so one such answer
 *   that lacks our id outweighs any number that still list it.
 */
import { endpointHealthy, listMembers, type EtcdTls } from '../../etcd/client.js';
import { describeError } from '../../util/errors.js';

export interface MemberAnswer {
  endpoint: string;
  healthy: boolean;
  /** Why it does not count, when it does not. */
  problem?: string;
  clusterId?: string;
  memberIds?: string[];
}

export type MembershipVerdict =
  | { kind: 'member'; reason: string }
  | { kind: 'removed'; reason: string }
  | { kind: 'unknown'; reason: string };

/** Pure: what the answers say about member `memberId` of cluster `clusterId`. */
export function judgeMembership(own: { memberId: string; clusterId: string }, answers: readonly MemberAnswer[]): MembershipVerdict {
  const counted = answers.filter((a) => a.healthy && a.clusterId === own.clusterId && a.memberIds !== undefined);
  const gone = counted.find((a) => !a.memberIds!.includes(own.memberId));
  if (gone) {
    return {
      kind: 'removed',
      reason: `healthy member ${gone.endpoint} of cluster ${own.clusterId} lists ${gone.memberIds!.length} members and member ${own.memberId} (this node) is not one of them: it was removed from the cluster`,
    };
  }
  if (counted.length > 0) return { kind: 'member', reason: `${counted.map((a) => a.endpoint).join(', ')} list member ${own.memberId}` };
  const why = answers.map((a) => {
    if (a.problem) return `${a.endpoint}: ${a.problem}`;
    if (a.clusterId !== own.clusterId) return `${a.endpoint}: belongs to cluster ${a.clusterId ?? '?'}, not ${own.clusterId}`;
    return `${a.endpoint}: no member list`;
  });
  return { kind: 'unknown', reason: answers.length === 0 ? 'no other member is known to ask' : `no healthy member of this cluster answered (${why.join('; ')})` };
}

const TIMEOUT_MS = 3000;

/** Asks each endpoint (in parallel, bounded) whether it is healthy and who its members are. */
export async function askMembers(endpoints: readonly string[], tls: EtcdTls): Promise<MemberAnswer[]> {
  return Promise.all(
    endpoints.map(async (endpoint): Promise<MemberAnswer> => {
      const health = await endpointHealthy(endpoint, tls, TIMEOUT_MS);
      if (!health.healthy) return { endpoint, healthy: false, problem: `unhealthy: ${health.reason ?? 'no answer'}` };
      try {
        const listed = await listMembers([endpoint], tls, TIMEOUT_MS);
        return { endpoint, healthy: true, clusterId: listed.clusterId, memberIds: listed.members.map((m) => m.id) };
      } catch (err) {
        return { endpoint, healthy: false, problem: describeError(err) };
      }
    }),
  );
}
