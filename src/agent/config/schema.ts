/**
 * The one table of configuration keys. Everything that needs to know which
 * keys exist is derived from it: unknown-key detection and its "did you mean"
 * suggestions, the ETCD_AGENT_* environment overrides, the type checks, and the
 * `init` renderer's key order.
 */

export type FieldKind =
  | { type: 'string'; pattern?: RegExp; allowed?: string; maxLength?: number }
  | { type: 'secret' }
  | { type: 'path' }
  | { type: 'int'; min: number; max: number }
  /** A duration text (src/util/duration.ts), bounds in ms; `zeroOff`: 0 is allowed and means off. */
  | { type: 'duration'; minMs: number; maxMs: number; zeroOff?: boolean }
  | { type: 'bool' }
  | { type: 'list' }
  | { type: 'map' }
  | { type: 'enum'; values: readonly string[] };

export interface FieldSpec {
  /** Dotted key path as written in the YAML file: `cluster.tokenFile`. */
  path: string;
  kind: FieldKind;
  /** Environment variable that overrides the key, or undefined when there is none. */
  env: string | undefined;
  /** One line for help texts. */
  help: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export const SERVICE_MANAGERS = ['auto', 'systemd', 'process'] as const;

export const ENV_PREFIX = 'ETCD_AGENT_';
/** Environment variable naming the config file (the --config flag wins). */
export const CONFIG_PATH_ENV = 'ETCD_AGENT_CONFIG';

const PORT = { type: 'int', min: 1, max: 65535 } as const;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/** `cluster.tokenFile` → `ETCD_AGENT_CLUSTER_TOKEN_FILE`; `serviceManager` → `ETCD_AGENT_SERVICE_MANAGER`. */
export function envNameFor(path: string): string {
  return (
    ENV_PREFIX +
    path
      .split('.')
      .map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
      .join('_')
  );
}

function field(path: string, kind: FieldKind, help: string, options: { env?: boolean } = {}): FieldSpec {
  return { path, kind, help, env: options.env === false ? undefined : envNameFor(path) };
}

export const CONFIG_FIELDS: readonly FieldSpec[] = [
  field(
    'cluster.name',
    { type: 'string', pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, allowed: '1 to 63 characters a-z, 0-9 and "-", starting and ending with a letter or digit' },
    'name of the cluster (required)',
  ),
  field('cluster.size', { type: 'int', min: 1, max: 9 }, 'number of etcd members to form (required, odd recommended)'),
  field('cluster.token', { type: 'secret' }, 'join token (or use cluster.tokenFile)'),
  field('cluster.tokenFile', { type: 'path' }, 'file holding the join token, mode 0600'),
  field(
    'node.name',
    { type: 'string', pattern: /^[A-Za-z0-9._-]{1,63}$/, allowed: '1 to 63 characters A-Z, a-z, 0-9, ".", "_" and "-"' },
    'etcd member name (default: the hostname, lowercased)',
  ),
  field('node.advertiseAddress', { type: 'string' }, 'IP address advertised to peers (default: first non-internal IPv4)'),
  field('discovery.mdns', { type: 'bool' }, 'find peers by mDNS (default true)'),
  field(
    'discovery.mdnsInterface',
    { type: 'string', pattern: /^[^\s/:]{1,15}$/, allowed: 'a network interface name (1 to 15 characters, no spaces, "/" or ":")' },
    'interface for mDNS and address auto-detection',
  ),
  field('discovery.seeds', { type: 'list' }, 'peers to contact: host[:port], IPv6 as [addr]:port'),
  field('peerApi.port', PORT, 'agent peer API port (default 2390)'),
  field('statusApi.address', { type: 'string' }, 'local status API HOST:PORT, loopback only (default 127.0.0.1:2391)'),
  field('etcd.binary', { type: 'path' }, 'etcd executable (default /usr/bin/etcd, never prefixed by paths.root)'),
  field('etcd.clientPort', PORT, 'etcd client port (default 2379)'),
  field('etcd.peerPort', PORT, 'etcd peer port (default 2380)'),
  field('etcd.dataDir', { type: 'path' }, 'etcd data directory (default <root>/var/lib/etcd/<cluster.name>)'),
  field('etcd.extraEnv', { type: 'map' }, 'extra ETCD_* settings passed to etcd verbatim', { env: false }),
  field('paths.root', { type: 'path' }, 'prefix for every default path (default /)'),
  field('paths.stateDir', { type: 'path' }, 'agent state directory (default <root>/var/lib/etcd-agent)'),
  field('paths.confFile', { type: 'path' }, 'etcd environment file (default <root>/etc/etcd/etcd.conf)'),
  field('paths.etcdctlEnvFile', { type: 'path' }, 'etcdctl environment file (default <root>/etc/etcd/etcdctl.env)'),
  field('paths.pkiDir', { type: 'path' }, 'certificate directory (default <root>/etc/etcd/pki)'),
  field('paths.unitFile', { type: 'path' }, 'etcd systemd unit (default <root>/etc/systemd/system/etcd.service)'),
  field('pki.certValidity', { type: 'duration', minMs: 2 * MINUTE, maxMs: 3650 * DAY }, 'leaf certificate validity, renewed at 2/3 of it (default 365d, min 2m)'),
  field('pki.certValidityDays', { type: 'int', min: 1, max: 3650 }, 'older spelling of pki.certValidity in days; set one of the two'),
  field('pki.caValidityDays', { type: 'int', min: 1, max: 36500 }, 'CA certificate validity in days (default 3650)'),
  field('pki.expiryWarning', { type: 'duration', minMs: 0, maxMs: 3650 * DAY, zeroOff: true }, '/readyz fails this long before a certificate expires (default 7d, or a sixth of pki.certValidity when that is shorter; at most a quarter of it)'),
  field('membership.deadAfter', { type: 'duration', minMs: 10 * SECOND, maxMs: 30 * DAY }, 'a voter unreachable this long is dead and may be replaced (default 60s, min 10s)'),
  field('membership.learnerTimeout', { type: 'duration', minMs: 10 * SECOND, maxMs: DAY }, 'a learner that does not start or catch up within this is removed (default 5m)'),
  field('snapshots.interval', { type: 'duration', minMs: 5 * SECOND, maxMs: 30 * DAY, zeroOff: true }, 'scheduled snapshot interval (default 1h; 0 turns them off)'),
  field('snapshots.dir', { type: 'path' }, 'where scheduled snapshots are kept (default <root>/var/lib/etcd-agent/snapshots)'),
  field('snapshots.keep', { type: 'int', min: 1, max: 10000 }, 'how many scheduled snapshots to keep (default 24)'),
  field('serviceManager', { type: 'enum', values: SERVICE_MANAGERS }, 'how etcd is run: auto, systemd or process'),
  field('log.level', { type: 'enum', values: LOG_LEVELS }, 'log level (default info)'),
];

export const FIELDS_BY_PATH: ReadonlyMap<string, FieldSpec> = new Map(CONFIG_FIELDS.map((f) => [f.path, f]));

/** Top-level keys that are sections (mappings), in table order. */
export const SECTIONS: readonly string[] = [
  ...new Set(CONFIG_FIELDS.filter((f) => f.path.includes('.')).map((f) => f.path.split('.')[0] ?? '')),
];

/** Top-level keys that hold a value directly (`serviceManager`). */
export const TOP_LEVEL_SCALARS: readonly string[] = CONFIG_FIELDS.filter((f) => !f.path.includes('.')).map((f) => f.path);

/** Keys allowed directly under a section: `keysOf('cluster')` → name, size, token, tokenFile. */
export function keysOf(section: string): string[] {
  return CONFIG_FIELDS.filter((f) => f.path.startsWith(`${section}.`)).map((f) => f.path.slice(section.length + 1));
}

/** The config file's shape before validation: what `init` writes and YAML holds. */
export type RawValue = string | number | boolean | string[] | Record<string, string>;
export type RawConfig = Record<string, RawValue | Record<string, RawValue>>;
