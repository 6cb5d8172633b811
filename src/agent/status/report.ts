import type { ServiceStatus } from '../../systemd/service-manager.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';
import type { AgentConfig } from '../config/types.js';
import { caHolderOf } from '../bootstrap/election.js';
import type { View } from '../peer/protocol.js';
import { expiryWarning } from '../certs/renewal-plan.js';
import type { CertificateFact } from '../credentials.js';
import type { CertificateRenewalStatus, CertificateStatus, ControllerStatus, PeerStatus, Phase, StatusReport } from './model.js';

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
  service: { kind: string; status: ServiceStatus };
  now?: number;
}

/** Pure: the /status document. */
export function buildStatusReport(input: StatusInput): StatusReport {
  const { config, view, observation: obs, formed, service } = input;
  const now = input.now ?? Date.now();
  const renewal = input.certificateRenewal;
  const warning = expiryWarning(input.certificates, config.pki.expiryWarningMs, now, renewal.lastError);
  const holder = view ? caHolderOf(view) : undefined;
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
    caHolder: holder ? { nodeId: holder.nodeId, name: holder.name, self: holder.nodeId === input.nodeId } : null,
    initialMembers: (view ?? []).map((m) => ({ nodeId: m.nodeId, name: m.name, address: m.address })),
    discovery: input.discovery,
    peers: input.peers,
    refusals: [...input.refusals],
    members: obs?.members ?? [],
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
    lastError: input.lastError,
  };
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
