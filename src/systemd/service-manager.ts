/**
 * How etcd runs: one interface, shaped like etcdadm's InitSystem, with a
 * `process` backend (etcd as a supervised child of the agent) and a `systemd`
 * backend (etcd.service). The agent only ever talks to this interface.
 */

export interface ServiceSpec {
  /** Unit / service name, e.g. 'etcd'. */
  name: string;
  /** Absolute path of the binary, e.g. /usr/bin/etcd. */
  binary: string;
  /** ETCD_* environment file, e.g. /etc/etcd/etcd.conf. */
  envFile: string;
  dataDir: string;
  /** Where the process backend keeps its pid file and log (the agent state dir). */
  workDir: string;
  /** systemd only: User= of the unit (default 'etcd'); created as a system user when absent. */
  user?: string;
  /** systemd only: Group= of the unit (default: the same name as `user`). */
  group?: string;
  /**
   * systemd only: etcd starts only when `<dataDir>/member` or this file exists
   * (the agent writes it right before a start on an empty data dir). The
   * process backend needs no such guard: the agent starts that etcd itself.
   */
  startEmptyMarker?: string;
}

export type ServiceActiveState = 'active' | 'activating' | 'deactivating' | 'inactive' | 'failed' | 'unknown';

export interface ServiceStatus {
  state: ServiceActiveState;
  pid?: number;
  /** How many times the service was restarted after an unexpected exit. */
  restarts: number;
  /** ISO time of the last state change. */
  since?: string;
  /** In words, e.g. 'exited with code 1 at …; restarting in 4 s'. */
  detail: string;
  /** Last lines of the service's output. */
  recentLog: string[];
}

export interface ServiceManager {
  readonly kind: 'process' | 'systemd';
  /** Makes the service known (unit file, or just the spec); `changed` when anything differs from before. */
  install(spec: ServiceSpec): Promise<{ changed: boolean }>;
  /** Start at boot (systemd); nothing to do for the process backend. */
  enable(): Promise<void>;
  /** Starts the service without waiting for it to be healthy; a no-op when it already runs. */
  start(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Asks the service manager now and returns the fresh snapshot (the systemd
   * backend otherwise asks at its poll's pace): for decisions, never for the status API.
   */
  refreshStatus(): Promise<ServiceStatus>;
  /** Synchronous snapshot: the status API must never wait. */
  status(): ServiceStatus;
  /** Agent shutdown: release resources (the process backend also stops its child). */
  close(): Promise<void>;
}
