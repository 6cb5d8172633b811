/**
 * The member's answer to POST /v1/join with reason `wiped` or `removed`: a
 * member of this cluster (it calls with its cluster certificate, whose name
 * the join route already matched to the request) asks to be re-added under
 * its own name. The answer never changes membership itself; the membership
 * controller does (repair rules: its old member is removed at once when
 * unhealthy, then it is added as a learner like any joiner).
 *
 * - admitted: its learner exists (the admission record names it);
 * - refused: the name belongs to a healthy member — a wiped or removed node
 *   cannot be that member, so another host runs under its name;
 * - queued: its old member is still listed and unhealthy (being replaced), or
 *   the cluster has room; spare: the cluster is full without it (a member
 *   removed while away comes back as a spare).
 */
import type { EtcdMember } from '../../etcd/client.js';
import type { ClusterRecords } from '../../etcd/records.js';
import type { PeerCaller } from '../admission.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';
import { planMembership } from '../controllers/membership-plan.js';
import { nameConflict } from '../controllers/repair-rules.js';
import type { Candidate, JoinRequest, JoinResponse } from '../peer/protocol.js';
import { admissionFor } from './join-server.js';

export interface RejoinServerDeps {
  observation: () => ClusterObservation | undefined;
  caHolder: () => Candidate | undefined;
  learnerTimeoutMs: number;
  refused: (who: string, reason: string) => void;
}

export function rejoinAnswerer(deps: RejoinServerDeps) {
  return async (caller: PeerCaller, request: JoinRequest, records: ClusterRecords, members: EtcdMember[]): Promise<JoinResponse | undefined> => {
    const { candidate } = request;
    const holder = deps.caHolder() ?? null;
    const answer = (state: JoinResponse['state'], reason: string, admission: JoinResponse['admission'] = null): JoinResponse => ({ state, reason, admission, caHolder: holder });
    const who = `${candidate.name} (${candidate.nodeId})`;
    if (caller.via !== 'ca') {
      // Only a member re-joins: it holds a cluster certificate for its name; a token caller is a fresh agent.
      const reason = `a join for reason "${request.reason}" must come with this cluster's certificate for "${candidate.name}"; a new agent asks with reason "fresh"`;
      deps.refused(who, `asked to join: ${reason}`);
      return answer('refused', reason);
    }
    const admitted = records.admitted.find((a) => a.candidate.nodeId === candidate.nodeId);
    if (admitted && members.some((m) => m.id === admitted.memberId)) {
      // The observed cluster id ('' when unknown: the re-joiner then refuses the admission, never joins blindly).
      const clusterId = deps.observation()?.clusterId ?? '';
      return answer('admitted', `re-added as learner ${admitted.memberId}; start etcd on an empty data dir and catch up to be promoted`, admissionFor(admitted, members, clusterId, records.admitted));
    }
    const health = new Map((deps.observation()?.members ?? []).map((m) => [m.id, m.healthy]));
    const repairMembers = members.map((m) => ({ id: m.id, name: m.name, isLearner: m.isLearner, healthy: health.get(m.id) ?? false, unhealthyForMs: 0 }));
    const conflict = nameConflict(candidate, repairMembers);
    if (conflict) {
      deps.refused(who, `asked to join (${request.reason}): ${conflict}`);
      return answer('refused', conflict);
    }
    const old = members.find((m) => m.name === candidate.name);
    if (old) return answer('queued', `its old member ${old.id} is unhealthy: the membership controller removes it and adds this node again as a learner under the same name`);
    const plan = planMembership({
      now: Date.now(),
      wantedSize: records.size ?? members.filter((m) => !m.isLearner).length,
      members: members.map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerUrls, isLearner: m.isLearner, healthy: health.get(m.id) ?? false })),
      learners: [],
      joins: records.joins,
      admitted: records.admitted,
      learnerTimeoutMs: deps.learnerTimeoutMs,
      protectedIds: [],
    });
    const planned = plan.answers.get(candidate.nodeId);
    if (!planned) return answer('queued', 'queued');
    if (planned.state === 'refused') deps.refused(who, `asked to join (${request.reason}): ${planned.reason}`);
    return answer(planned.state, planned.reason);
  };
}
