/**
 * The agent's resolved configuration: every default filled in, every path
 * absolute (already prefixed by `paths.root`), the token read from its file.
 * This is the only shape the rest of the agent sees; YAML, environment and
 * flags are folded into it by `loadConfig`.
 */
export type ServiceManagerKind = 'auto' | 'systemd' | 'process';

export interface SeedAddress {
  /** IP address or DNS name, resolved every discovery round. */
  host: string;
  /** Agent peer API port of that seed. */
  port: number;
}

export interface AgentConfig {
  /** Where the config was read from (for messages); undefined when built in memory. */
  source?: string;
  cluster: {
    name: string;
    size: number;
    /** The join token itself. Never log or print it. */
    token: string;
    /** File the token was read from, if any. */
    tokenFile?: string;
  };
  node: {
    name: string;
    /** The address etcd and the peer API advertise to other nodes. */
    advertiseAddress: string;
    /** How advertiseAddress was chosen, shown in /status: 'config' or 'auto (eth0)'. */
    advertiseAddressSource: string;
  };
  discovery: {
    mdns: boolean;
    /** Interface mDNS runs on (undefined: the one holding advertiseAddress). */
    mdnsInterface?: string;
    seeds: SeedAddress[];
  };
  peerApi: {
    /** Address the peer API listens on: the advertise address when it is loopback, else 0.0.0.0. */
    listenAddress: string;
    port: number;
  };
  statusApi: {
    /** Must be a loopback address. */
    host: string;
    port: number;
  };
  etcd: {
    binary: string;
    clientPort: number;
    peerPort: number;
    dataDir: string;
    /** Extra ETCD_* settings passed through verbatim (keys validated). */
    extraEnv: Record<string, string>;
  };
  paths: {
    /** Prefix for every default path below ('/' on a real host). */
    root: string;
    stateDir: string;
    confFile: string;
    etcdctlEnvFile: string;
    pkiDir: string;
    unitFile: string;
  };
  pki: {
    /** Leaf (server and admin client) certificate lifetime; renewed at 2/3 of it. */
    certValidityMs: number;
    caValidityDays: number;
    /** /readyz fails when a certificate expires within this (0: never). */
    expiryWarningMs: number;
  };
  membership: {
    /** A voter unreachable this long is declared dead. */
    deadAfterMs: number;
    /** A learner that has not started or caught up within this is removed. */
    learnerTimeoutMs: number;
  };
  snapshots: {
    /** 0: scheduled snapshots are off. */
    intervalMs: number;
    dir: string;
    keep: number;
  };
  serviceManager: ServiceManagerKind;
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  };
}
