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
  /** Since when this node has seen the member unhealthy (absent while healthy). */
  unhealthySince?: string;
  /** How long, in ms, at the time of the report. */
  unhealthyForMs?: number;
  /** A voter unhealthy for at least membership.deadAfter: the membership controller may replace it. */
  dead?: boolean;
}

/** One waiting joiner or spare, with what it is told. */
export interface JoinerStatus {
  nodeId: string;
  name: string;
  address: string;
  /** Why it asks: fresh, wiped, removed. */
  reason: string;
  /** Its first ask. */
  since: string;
  state: 'queued' | 'spare' | 'admitted' | 'refused';
  answer: string;
}

/** One membership operation as the ops log in etcd keeps it. */
export interface MembershipOpStatus {
  op: string;
  target: string;
  reason: string;
  result: string;
  at: string;
  by: string;
}

/** The membership controller's view (DAY2: wanted size, voters, learners, queue, last operations). */
export interface MembershipStatus {
  /** The wanted number of voters as etcd holds it (rules the cluster); null until read. */
  wantedSize: number | null;
  /** cluster.size in this node's config; after formation it changes nothing. */
  configuredSize: number;
  /** Set when the two differ, in words. */
  sizeNote: string | null;
  voters: number;
  learners: number;
  queue: JoinerStatus[];
  /** The last ten operations (newest last), from etcd. */
  ops: MembershipOpStatus[];
  /** What the planner decided last, and why. */
  plan: { action: string; reason: string; at: string } | null;
  /** Who held the membership lock at the last look, if anyone. */
  lockHolder: string | null;
  /** Operations this node did since it started, by op and result (for /metrics). */
  counts: { op: string; result: 'ok' | 'failed'; count: number }[];
  observedAt: string | null;
  problems: string[];
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
  /**
   * This node's clock minus the CA holder's, as the last renewal showed it
   * (receipt time minus signing time, so the transfer time is included);
   * null before the first renewal since start.
   */
  clockOffset: { ms: number; caHolder: string; at: string } | null;
}

/** Before the certificates controller exists (not formed yet): nothing renewed, nothing planned. */
export const NO_RENEWAL: CertificateRenewalStatus = { nextRenewalAt: null, lastRenewal: null, lastError: null, renewals: 0, failures: 0, reenrolled: null, clockOffset: null };

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
  /** election: the leader of the CA-role election (after formation); initial-members: the lowest id of the agreed view (bootstrap, or formed and not observed yet); join-answer: what the member that admitted this joiner said. */
  source: 'election' | 'initial-members' | 'join-answer';
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
  certificateRenewal: CertificateRenewalStatus & {
    /** Why /readyz fails because of a certificate (expired, or within pki.expiryWarning of expiry); null when none. */
    warning: string | null;
  };
  etcdService: { manager: string; state: string; detail: string; pid?: number; restarts: number; recentLog: string[] };
  /** Steady-state controllers (after formation): when each last ran and its last error. */
  controllers: ControllerStatus[];
  snapshots: SnapshotStatus;
  /** Null before this node is a member of a formed cluster. */
  membership: MembershipStatus | null;
  lastError: string | null;
}
