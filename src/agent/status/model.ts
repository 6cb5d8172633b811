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

export interface SnapshotFileStatus {
  file: string;
  sizeBytes: number;
  revision: number;
  takenAt: string;
}

/** The snapshots controller's section: schedule, last outcome, files kept. */
export interface SnapshotStatus {
  /** Scheduled snapshots run (snapshots.interval > 0); on-demand ones always can. */
  enabled: boolean;
  intervalMs: number;
  dir: string;
  keep: number;
  /** When the next scheduled snapshot is due (null: off, or not formed yet). */
  nextDueAt: string | null;
  inProgress: { since: string; reason: string } | null;
  lastSuccess: { at: string; file: string; sizeBytes: number; revision: number; durationMs: number; reason: string } | null;
  lastFailure: { at: string; reason: string; error: string } | null;
  /** Since the agent started. */
  successes: number;
  failures: number;
  consecutiveFailures: number;
  /** This node's snapshot files, newest first. */
  files: SnapshotFileStatus[];
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
  snapshots: SnapshotStatus;
  lastError: string | null;
}
