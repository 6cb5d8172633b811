import type { ServiceStatus } from '../../systemd/service-manager.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';
import { isDead } from '../controllers/dead-members.js';
import type { AgentConfig } from '../config/types.js';
import { caHolderOf } from '../bootstrap/election.js';
import type { Candidate, View } from '../peer/protocol.js';
import { expiryWarning } from '../certs/renewal-plan.js';
import type { CertificateFact } from '../credentials.js';
import type { CaHolderStatus, CaRoleStatus, CertificateRenewalStatus, CertificateStatus, ControllerStatus, MembershipStatus, PeerStatus, Phase, SnapshotStatus, StatusReport } from './model.js';

/** Everything /status is made of, as plain data the agent already holds. */
export interface StatusInput {
  version: string;
  config: AgentConfig;
  nodeId: string;
  phase: Phase;
  reason: string;
  phaseSince: string;
  lastError: string | null;
  view: View | undefined;
  /** The CA role after formation (the election as this node sees it). */
  caRole: CaRoleStatus | undefined;
  formed: { clusterId: string; memberId: string } | undefined;
  observation: ClusterObservation | undefined;
  /** The observation is recent enough to vouch for readiness. */
  observationFresh: boolean;
  discovery: { sources: string[]; problems: string[] };
  peers: PeerStatus[];
  refusals: { from: string; reason: string; at: string }[];
  certificates: CertificateFact[];
  certificateRenewal: CertificateRenewalStatus;
  controllers: ControllerStatus[];
  snapshots: SnapshotStatus;
  service: { kind: string; status: ServiceStatus };
  /** Who signs certificates when this node has no view of its own (it joined later). */
  caHolder?: Candidate | undefined;
  membership?: MembershipStatus | null;
  /** Since when each member (by id) has been seen unhealthy. */
  unhealthySince?: ReadonlyMap<string, number>;
  now?: number;
}

/** Pure: the /status document. */
export function buildStatusReport(input: StatusInput): StatusReport {
  const { config, view, observation: obs, formed, service } = input;
  const now = input.now ?? Date.now();
  const members = (obs?.members ?? []).map((m) => {
    const since = m.healthy ? undefined : input.unhealthySince?.get(m.id);
    if (since === undefined) return m;
    const unhealthyForMs = Math.max(0, now - since);
    return { ...m, unhealthySince: new Date(since).toISOString(), unhealthyForMs, dead: isDead(m, unhealthyForMs, config.membership.deadAfterMs) };
  });
  const renewal = input.certificateRenewal;
  const warning = expiryWarning(input.certificates, config.pki.expiryWarningMs, now, renewal.lastError);
  const memberName = (id: string): string => obs?.members.find((m) => m.id === id)?.name ?? '';
  return {
    version: input.version,
    node: {
      id: input.nodeId,
      name: config.node.name,
      advertiseAddress: config.node.advertiseAddress,
      advertiseAddressSource: config.node.advertiseAddressSource,
      peerApi: `${config.peerApi.listenAddress}:${config.peerApi.port}`,
      statusApi: `${config.statusApi.host}:${config.statusApi.port}`,
    },
    cluster: {
      name: config.cluster.name,
      id: formed?.clusterId ?? obs?.clusterId ?? null,
      size: config.cluster.size,
      state: formed ? 'formed' : 'forming',
    },
    phase: input.phase,
    reason: input.reason,
    phaseSince: input.phaseSince,
    caHolder: caHolderStatus(input),
    caRole: formed && input.caRole ? input.caRole : null,
    initialMembers: (view ?? []).map((m) => ({ nodeId: m.nodeId, name: m.name, address: m.address })),
    discovery: input.discovery,
    peers: input.peers,
    refusals: [...input.refusals],
    members,
    leader: obs?.leaderId ? { id: obs.leaderId, name: memberName(obs.leaderId) } : null,
    localMemberId: obs?.localMemberId ?? formed?.memberId ?? null,
    // The service manager knows at once when etcd is down (killed, restarting); the next health check may be seconds away.
    // A certificate about to expire fails readiness before it can fail etcd: renewal is not happening.
    ready: Boolean(formed && obs?.localHealthy && input.observationFresh && service.status.state === 'active' && warning === null),
    certificates: certificateStatus(input.certificates, renewal.nextRenewalAt, now),
    certificateRenewal: { ...renewal, warning },
    etcdService: {
      manager: service.kind,
      state: service.status.state,
      detail: service.status.detail,
      ...(service.status.pid ? { pid: service.status.pid } : {}),
      restarts: service.status.restarts,
      recentLog: service.status.recentLog.slice(-10),
    },
    controllers: input.controllers,
    snapshots: input.snapshots,
    membership: input.membership ?? null,
    lastError: input.lastError,
  };
}

/**
 * Who signs: after formation the CA-role election's leader as this node last
 * saw it; before formation (and on a formed node that has not seen the
 * election yet since it started) the lowest id of the agreed view, labelled so.
 */
export function caHolderStatus(input: Pick<StatusInput, 'view' | 'caRole' | 'formed' | 'nodeId' | 'caHolder'>): CaHolderStatus | null {
  const role = input.formed ? input.caRole : undefined;
  if (role?.observedSince) {
    const h = role.holder;
    return h ? { nodeId: h.nodeId, name: h.name, address: h.address, peerApiPort: h.peerApiPort, self: h.nodeId === input.nodeId, since: h.since, source: 'election' } : null;
  }
  const first = input.view ? caHolderOf(input.view) : undefined;
  // A node that joined later has no view: the holder its admission named.
  const known = first ?? input.caHolder;
  if (!known) return null;
  const source = first ? 'initial-members' : 'join-answer';
  return { nodeId: known.nodeId, name: known.name, address: known.address, peerApiPort: known.peerApiPort, self: known.nodeId === input.nodeId, since: null, source };
}

/** Expiry of each certificate file, and when the agent renews it. */
export function certificateStatus(facts: CertificateFact[], nextRenewalAt: string | null, now = Date.now()): CertificateStatus[] {
  return facts.map((f) => {
    const left = f.notAfter.getTime() - now;
    return {
      file: f.file,
      kind: f.kind,
      notAfter: f.notAfter.toISOString(),
      daysLeft: Math.floor(left / 86_400_000),
      secondsLeft: Math.floor(left / 1000),
      renewAt: f.kind === 'ca' ? null : nextRenewalAt,
    };
  });
}
