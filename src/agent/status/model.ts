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
  /** ca: the cluster CA (never renewed by the agent); server: serving + peer; client: the local admin client. */
  kind: 'ca' | 'server' | 'client';
  notAfter: string;
  daysLeft: number;
  /** Seconds until it expires (negative once expired): the number /metrics exports per certificate. */
  secondsLeft: number;
  /** When the agent renews it next (null for the CA, or before enrollment). */
  renewAt: string | null;
}

/** The certificates controller: renewals of this node's server and admin-client certificates. */
export interface CertificateRenewalStatus {
  /** 2/3 of the lifetime plus jitter (or the retry time after a failure). */
  nextRenewalAt: string | null;
  lastRenewal: { at: string; from: string; ms: number; cpuMs: number; notAfter: string } | null;
  lastError: string | null;
  /** Since the agent started. */
  renewals: number;
  failures: number;
  /** Set once this node re-enrolled with the join token because its certificate had expired. */
  reenrolled: { at: string; reason: string } | null;
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
  certificateRenewal: CertificateRenewalStatus & {
    /** Why /readyz fails because of a certificate (expired, or within pki.expiryWarning of expiry); null when none. */
    warning: string | null;
  };
  etcdService: { manager: string; state: string; detail: string; pid?: number; restarts: number; recentLog: string[] };
  /** Steady-state controllers (after formation): when each last ran and its last error. */
  controllers: ControllerStatus[];
  lastError: string | null;
}
