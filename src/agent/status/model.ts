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

/** Who holds the CA role, as this node last saw it. */
export interface CaHolderStatus {
  nodeId: string;
  name: string;
  address: string;
  peerApiPort: number;
  /** It is this node. */
  self: boolean;
  /** Since when this node has seen it hold the role (its own clock); null while forming. */
  since: string | null;
  /** election: the leader of the CA-role election (after formation); initial-members: the lowest id of the agreed view (bootstrap, or formed and not observed yet). */
  source: 'election' | 'initial-members';
}

/** This node's part in the CA role (after formation). */
export interface CaRoleStatus {
  /** holder: leads the election and signs; standby: able to sign, waiting in the election; waiting: not able yet (no escrow); ineligible: cannot sign (reason says why). */
  state: 'holder' | 'standby' | 'waiting' | 'ineligible';
  reason: string;
  since: string;
  /** Where its CA key comes from, once it is able to sign. */
  keySource: 'local' | 'escrow' | null;
  /** The escrow record in etcd, as this node last saw it. */
  escrow: 'present' | 'absent' | 'unknown';
  /** The election's leader as last observed (null: none, or not observed yet). */
  holder: (CandidateStatus & { since: string }) | null;
  /** When this node first saw the election (null: not yet). */
  observedSince: string | null;
  /** While this node holds the role: since when. */
  heldSince: string | null;
  /** How often this node has taken the role since it started. */
  timesElected: number;
  lastElectedAt: string | null;
}

export interface CandidateStatus {
  nodeId: string;
  name: string;
  address: string;
  peerApiPort: number;
  etcdPeerPort: number;
  etcdClientPort: number;
}

export interface StatusReport {
  version: string;
  node: { id: string; name: string; advertiseAddress: string; advertiseAddressSource: string; peerApi: string; statusApi: string };
  cluster: { name: string; id: string | null; size: number; state: 'forming' | 'formed' };
  phase: Phase;
  reason: string;
  phaseSince: string;
  caHolder: CaHolderStatus | null;
  /** This node's part in the CA role; null before formation. */
  caRole: CaRoleStatus | null;
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
