import type { EtcdMember, EtcdTls } from '../../etcd/client.js';
import { withRecords, type AdmittedRecord, type ClusterRecords } from '../../etcd/records.js';
import type { Logger } from '../../util/log.js';
import { admitJoinRequest, type PeerCaller } from '../admission.js';
import type { AgentConfig } from '../config/types.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';
import { planMembership, type JoinAnswer } from '../controllers/membership-plan.js';
import { identityRefused, PeerApiError } from '../peer/errors.js';
import type { Candidate, JoinAdmission, JoinRequest, JoinResponse } from '../peer/protocol.js';

const TIMEOUT_MS = 3000;

export interface JoinServerDeps {
  config: AgentConfig;
  logger: Logger;
  /** This node is a member of a formed cluster. */
  formed: () => boolean;
  observation: () => ClusterObservation | undefined;
  /** The node's admin client certificate. */
  tls: () => EtcdTls;
  localUrl: string;
  caHolder: () => Candidate | undefined;
  refused: (who: string, reason: string) => void;
  /** A join request was recorded: the membership controller should look now, not at its quiet pace. */
  joinRecorded?: () => void;
  /**
   * Join requests for other reasons than `fresh` (a wiped data dir, a removed
   * member): answered there when given; undefined means "not handled here".
   */
  otherReason?: (caller: PeerCaller, request: JoinRequest, records: ClusterRecords, members: EtcdMember[]) => Promise<JoinResponse | undefined>;
}

/**
 * The member's side of POST /v1/join. Checks that the caller asks for
 * itself, keeps its place in the queue (`joins/<nodeId>` on a lease, first
 * ask kept), and answers from etcd's current state: `admitted` with what the
 * joiner needs to start etcd once the membership controller added it as a
 * learner, else `queued`, `spare` or `refused` with the reason in words. The
 * route never changes membership itself; the controller does, under its lock.
 */
export class JoinServer {
  constructor(private readonly deps: JoinServerDeps) {}

  async handle(caller: PeerCaller, request: JoinRequest): Promise<JoinResponse> {
    const { candidate } = request;
    const who = `${candidate.name} (${candidate.nodeId})`;
    if (!this.deps.formed()) throw new PeerApiError('EA_PEER_NOT_READY', 'this agent is not a member of a formed cluster yet; ask another member');
    const obs = this.deps.observation();
    const local = obs?.members.find((m) => m.id === obs.localMemberId);
    if (!local || local.isLearner || !obs?.leaderId) {
      throw new PeerApiError('EA_PEER_NOT_READY', 'this member cannot answer join requests now (it is a learner, or its etcd is not serving with a leader); ask another member');
    }
    const notSelf = admitJoinRequest(caller, candidate);
    if (notSelf) {
      this.deps.refused(who, `asked to join: ${notSelf}`);
      throw identityRefused(notSelf);
    }
    const target = { endpoints: [this.deps.localUrl], tls: this.deps.tls(), timeoutMs: TIMEOUT_MS };
    const cluster = this.deps.config.cluster.name;
    // One connection for the three steps: a joiner asks every second.
    const { records, listed, since } = await withRecords(target, cluster, async (s) => {
      const put = await s.putJoin({ candidate, reason: request.reason });
      return { records: await s.read(), listed: await s.members(), since: put.since };
    });
    this.deps.logger.debug({ component: 'membership', joiner: candidate.name, nodeId: candidate.nodeId, since }, 'join request');
    this.deps.joinRecorded?.();
    if (request.reason !== 'fresh') {
      const other = await this.deps.otherReason?.(caller, request, records, listed.members);
      if (other) return other;
      return this.answer({ state: 'refused', reason: `joining for reason "${request.reason}" is not handled by this member's version` }, null);
    }
    const admitted = records.admitted.find((a) => a.candidate.nodeId === candidate.nodeId);
    const learner = admitted && listed.members.find((m) => m.id === admitted.memberId);
    if (admitted && learner) {
      const admission = admissionFor(admitted, listed.members, listed.clusterId, records.admitted);
      return this.answer({ state: 'admitted', reason: `added as learner ${admitted.memberId}; enroll, start etcd and catch up to be promoted` }, admission);
    }
    const health = new Map((obs.members ?? []).map((m) => [m.id, m.healthy]));
    const plan = planMembership({
      now: Date.now(),
      wantedSize: records.size ?? listed.members.filter((m) => !m.isLearner).length,
      members: listed.members.map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerUrls, isLearner: m.isLearner, healthy: health.get(m.id) ?? false })),
      learners: [],
      joins: records.joins,
      admitted: records.admitted,
      learnerTimeoutMs: this.deps.config.membership.learnerTimeoutMs,
      protectedIds: [],
    });
    const answer = plan.answers.get(candidate.nodeId) ?? { state: 'queued', reason: 'queued' };
    if (answer.state === 'refused') this.deps.refused(who, `asked to join: ${answer.reason}`);
    return this.answer(answer, null);
  }

  private answer(answer: JoinAnswer, admission: JoinAdmission | null): JoinResponse {
    const holder = this.deps.caHolder();
    return { state: answer.state, reason: answer.reason, admission, caHolder: holder ?? null };
  }
}

/**
 * Pure: what an admitted joiner needs to start etcd with state `existing`:
 * every member (itself included) with its peer URL — etcd checks this list
 * against the cluster's — and the voters' client URLs. An unstarted member has
 * no name yet in etcd's list; the joiner's own name comes from its admission.
 */
export function admissionFor(record: AdmittedRecord, members: EtcdMember[], clusterId: string, admitted: AdmittedRecord[]): JoinAdmission {
  const names = new Map(admitted.map((a) => [a.memberId, a.candidate.name]));
  names.set(record.memberId, record.candidate.name);
  return {
    memberId: record.memberId,
    clusterId,
    initialCluster: members
      .filter((m) => m.peerUrls[0] !== undefined)
      .map((m) => ({ name: m.name || names.get(m.id) || `unstarted-${m.id}`, peerUrl: m.peerUrls[0]! })),
    clientUrls: members.filter((m) => !m.isLearner).flatMap((m) => m.clientUrls.slice(0, 1)),
  };
}
