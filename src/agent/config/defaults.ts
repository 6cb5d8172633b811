import { join } from 'node:path';

/**
 * Default values of the contract in DESIGN.md. Paths here are the values on a
 * real host; `withRoot` prefixes them with `paths.root` (like systemctl --root).
 */
export const DEFAULT_CONFIG_PATH = '/etc/etcd-agent/config.yaml';
/** Where `init --token` keeps the token: beside the config file. */
export const TOKEN_FILE_NAME = 'token';

export const DEFAULTS = {
  mdns: true,
  peerApiPort: 2390,
  statusApiHost: '127.0.0.1',
  statusApiPort: 2391,
  etcdBinary: '/usr/bin/etcd',
  etcdClientPort: 2379,
  etcdPeerPort: 2380,
  /** Parent of the per-cluster data dir: `/var/lib/etcd/<cluster.name>`. */
  etcdDataParent: '/var/lib/etcd',
  root: '/',
  stateDir: '/var/lib/etcd-agent',
  confFile: '/etc/etcd/etcd.conf',
  etcdctlEnvFile: '/etc/etcd/etcdctl.env',
  pkiDir: '/etc/etcd/pki',
  unitFile: '/etc/systemd/system/etcd.service',
  certValidityMs: 365 * 86_400_000,
  caValidityDays: 3650,
  expiryWarningMs: 7 * 86_400_000,
  deadAfterMs: 60_000,
  learnerTimeoutMs: 5 * 60_000,
  snapshotIntervalMs: 3_600_000,
  snapshotDir: '/var/lib/etcd-agent/snapshots',
  snapshotKeep: 24,
  serviceManager: 'auto',
  logLevel: 'info',
} as const;

/**
 * Data directories that belong to the distribution's own etcd (Debian's
 * etcd-server starts a single-node etcd in /var/lib/etcd/default). A new
 * cluster must never adopt them.
 */
export const FORBIDDEN_DATA_DIRS: readonly string[] = ['/var/lib/etcd', '/var/lib/etcd/default'];

/** `withRoot('/tmp/n1', '/etc/etcd/pki')` → `/tmp/n1/etc/etcd/pki`; root '/' leaves the path unchanged. */
export function withRoot(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

/** The default config file path for a root. */
export function defaultConfigPath(root = '/'): string {
  return withRoot(root, DEFAULT_CONFIG_PATH);
}
