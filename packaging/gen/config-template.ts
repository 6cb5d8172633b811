import { stringify } from 'yaml';
import { CONFIG_FIELDS, DEFAULTS, DEFAULT_CONFIG_PATH, type FieldSpec } from '../../src/agent/config/index.js';

/**
 * The config file the packages install as a conffile: every key of the schema
 * (CONFIG_FIELDS), commented out, with its default — so an installed node is
 * "not configured" until `etcd-agent init` replaces the file, and an operator
 * who prefers to edit by hand sees every key in one place.
 *
 * Line convention (tests rely on it, so keep it): every non-empty line starts
 * with "#" followed directly by a YAML line — "#cluster:", "#  port: 2390",
 * "#  # help", and "## note" for the header. Removing that one "#" from every
 * line yields a valid config in which each key has its default (or, for keys
 * without a default, an example).
 * Keys with no static default (the hostname, an auto-detected address) stay
 * commented even then ("#  # name: ...").
 */

/** How a key is shown: `value` is active once uncommented; `hint` stays a comment. */
type Shown = { value: unknown; note?: string } | { hint: string; note?: string };

/** The shown value of every key. A key of CONFIG_FIELDS missing here fails the build: the template never silently drifts. */
const SHOWN: Readonly<Record<string, Shown>> = {
  'cluster.name': { value: 'prod', note: 'example value' },
  'cluster.size': { value: 3, note: 'example value' },
  'cluster.token': { hint: 'TOKEN-FROM-etcd-agent-token-generate', note: 'set this or cluster.tokenFile, not both' },
  'cluster.tokenFile': { value: '/etc/etcd-agent/token', note: 'required unless cluster.token is set; example value' },
  'node.name': { hint: '<hostname, lowercased>', note: 'default shown' },
  'node.advertiseAddress': { hint: '<first non-internal IPv4 address>', note: 'default shown' },
  'discovery.mdns': { value: DEFAULTS.mdns },
  'discovery.mdnsInterface': { hint: 'eth0', note: 'default: every interface' },
  'discovery.seeds': { value: [] as string[], note: 'e.g. [10.0.0.11, 10.0.0.12:2390]' },
  'peerApi.port': { value: DEFAULTS.peerApiPort },
  'statusApi.address': { value: `${DEFAULTS.statusApiHost}:${DEFAULTS.statusApiPort}` },
  'etcd.binary': { value: DEFAULTS.etcdBinary },
  'etcd.clientPort': { value: DEFAULTS.etcdClientPort },
  'etcd.peerPort': { value: DEFAULTS.etcdPeerPort },
  'etcd.dataDir': { hint: `${DEFAULTS.etcdDataParent}/<cluster.name>`, note: 'default shown' },
  'etcd.extraEnv': { value: {} as Record<string, string>, note: 'e.g. {ETCD_QUOTA_BACKEND_BYTES: "8589934592"}' },
  'paths.root': { value: DEFAULTS.root },
  'paths.stateDir': { value: DEFAULTS.stateDir },
  'paths.confFile': { value: DEFAULTS.confFile },
  'paths.etcdctlEnvFile': { value: DEFAULTS.etcdctlEnvFile },
  'paths.pkiDir': { value: DEFAULTS.pkiDir },
  'paths.unitFile': { value: DEFAULTS.unitFile },
  'pki.certValidity': { value: '365d' },
  'pki.certValidityDays': { hint: '365', note: 'older spelling; do not set together with pki.certValidity' },
  'pki.caValidityDays': { value: DEFAULTS.caValidityDays },
  'pki.expiryWarning': { hint: '7d', note: 'default 7d, or a sixth of pki.certValidity when that is shorter' },
  'membership.deadAfter': { value: '60s' },
  'membership.learnerTimeout': { value: '5m' },
  'snapshots.interval': { value: '1h' },
  'snapshots.dir': { value: DEFAULTS.snapshotDir },
  'snapshots.keep': { value: DEFAULTS.snapshotKeep },
  serviceManager: { value: DEFAULTS.serviceManager },
  'log.level': { value: DEFAULTS.logLevel },
};

/** YAML for one scalar, flow list or flow map, on one line. */
function yamlValue(value: unknown): string {
  return stringify(value, { flow: true, lineWidth: 0 }).trimEnd();
}

function keyLines(field: FieldSpec, indent: string): string[] {
  const shown = SHOWN[field.path];
  if (shown === undefined) {
    throw new Error(`config template: key ${field.path} of CONFIG_FIELDS has no shown default in packaging/gen/config-template.ts; add one`);
  }
  const key = field.path.includes('.') ? field.path.slice(field.path.indexOf('.') + 1) : field.path;
  const about = [field.help, shown.note, field.env === undefined ? undefined : `env ${field.env}`].filter((s) => s !== undefined);
  const lines = [`#${indent}# ${about.join('; ')}`];
  if ('value' in shown) lines.push(`#${indent}${key}: ${yamlValue(shown.value)}`);
  else lines.push(`#${indent}# ${key}: ${shown.hint}`);
  return lines;
}

export const TEMPLATE_HEADER = [
  `etcd-agent configuration (${DEFAULT_CONFIG_PATH}).`,
  '',
  'As installed, every key is commented out: the agent is not configured and',
  '`etcd-agent run` says so and exits. Configure a node with',
  '  etcd-agent init --cluster NAME --size N --token-file FILE [--seeds HOST,...]',
  '(init replaces this file while it sets no key), then',
  '  systemctl enable --now etcd-agent',
  'Or uncomment and edit keys here and check with `etcd-agent check-config`.',
  'Each value shown is the default, or an example where a key has none.',
  'ETCD_AGENT_<SECTION>_<KEY> environment variables override keys.',
];

/** The whole template, ending with a newline. Pure. */
export function renderConfigTemplate(): string {
  for (const path of Object.keys(SHOWN)) {
    if (!CONFIG_FIELDS.some((f) => f.path === path)) {
      throw new Error(`config template: ${path} is not a key of CONFIG_FIELDS any more; remove it from packaging/gen/config-template.ts`);
    }
  }
  const out: string[] = TEMPLATE_HEADER.map((l) => (l === '' ? '#' : `## ${l}`));
  let section: string | undefined;
  for (const field of CONFIG_FIELDS) {
    const dot = field.path.indexOf('.');
    if (dot < 0) {
      section = undefined;
      out.push('');
      out.push(...keyLines(field, ''));
      continue;
    }
    const name = field.path.slice(0, dot);
    if (name !== section) {
      section = name;
      out.push('');
      out.push(`#${name}:`);
    }
    out.push(...keyLines(field, '  '));
  }
  return `${out.join('\n')}\n`;
}

/** What an operator gets by uncommenting every key line: the template's defaults as a config file. */
export function uncommentTemplate(text: string): string {
  return text
    .split('\n')
    .map((line) => (line.startsWith('#') ? line.slice(1) : line))
    .join('\n');
}
