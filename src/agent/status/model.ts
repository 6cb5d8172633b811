/**
 * What /status reports. The agent keeps one of these up to date as it works;
 * the status API only serialises it, so a status request never waits on etcd
 * or the network.
 */
export type Phase =
  | 'starting'
  | 'discovering'
  | 'electing'
  | 'spare'
  | 'joining'
  | 'enrolling'
  | 'configuring'
  | 'starting-etcd'
  | 'forming'
  | 'formed'
  | 'stopping';

export interface PeerStatus {
  endpoint: string;
  sources: string[];
  origin: string;
  nodeId?: string;
  name?: string;
  stage?: string;
  authenticated: boolean;
  lastSeen?: string;
  error?: string;
}

export interface MemberStatus {
  name: string;
  id: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
  healthy: boolean;
  reason?: string;
  /** When this node first saw it unhealthy (since then without a healthy look). */
  unhealthySince?: string;
  /** How long it has been unhealthy without a break (0 when healthy). */
  unhealthyForMs?: number;
  /** A voter unhealthy for at least membership.deadAfter: the membership controller may replace it. */
  dead?: boolean;
}

export interface CertificateStatus {
  file: string;
  notAfter: string;
  daysLeft: number;
}

export interface ControllerStatus {
  name: string;
  lastRunAt: string | null;
  lastError: string | null;
}

export interface StatusReport {
  version: string;
  node: { id: string; name: string; advertiseAddress: string; advertiseAddressSource: string; peerApi: string; statusApi: string };
  cluster: { name: string; id: string | null; size: number; state: 'forming' | 'formed' };
  phase: Phase;
  reason: string;
  phaseSince: string;
  caHolder: { nodeId: string; name: string; self: boolean } | null;
  initialMembers: { nodeId: string; name: string; address: string }[];
  discovery: { sources: string[]; problems: string[] };
  peers: PeerStatus[];
  refusals: { from: string; reason: string; at: string }[];
  members: MemberStatus[];
  leader: { id: string; name: string } | null;
  localMemberId: string | null;
  ready: boolean;
  certificates: CertificateStatus[];
  etcdService: { manager: string; state: string; detail: string; pid?: number; restarts: number; recentLog: string[] };
  /** Steady-state controllers (after formation): when each last ran and its last error. */
  controllers: ControllerStatus[];
  lastError: string | null;
}
