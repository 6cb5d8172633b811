/**
 * etcd's configuration as an `ETCD_*` environment file (`/etc/etcd/etcd.conf`),
 * read by the etcd unit's `EnvironmentFile=` or by the process backend.
 * Rendering is pure; callers write the text with writeFileAtomic.
 */
import { isAbsolute } from 'node:path';
import { EtcdConfInvalid } from './errors.js';
import { checkValue, formatEnvLine } from './env-file.js';

export interface EtcdMemberRef {
  name: string;
  peerUrl: string;
}

export interface EtcdConfInput {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialCluster: EtcdMemberRef[];
  initialClusterToken: string;
  initialClusterState: 'new' | 'existing';
  tls: { caFile: string; certFile: string; keyFile: string };
  /** Extra ETCD_* keys, rendered after ours, sorted. May not override ours. */
  extraEnv?: Record<string, string>;
}

/** Every key renderEtcdConf writes itself, in the order it writes them. */
export const ETCD_CONF_KEYS = [
  'ETCD_NAME',
  'ETCD_DATA_DIR',
  'ETCD_LISTEN_CLIENT_URLS',
  'ETCD_ADVERTISE_CLIENT_URLS',
  'ETCD_LISTEN_PEER_URLS',
  'ETCD_INITIAL_ADVERTISE_PEER_URLS',
  'ETCD_INITIAL_CLUSTER',
  'ETCD_INITIAL_CLUSTER_TOKEN',
  'ETCD_INITIAL_CLUSTER_STATE',
  'ETCD_CERT_FILE',
  'ETCD_KEY_FILE',
  'ETCD_TRUSTED_CA_FILE',
  'ETCD_CLIENT_CERT_AUTH',
  'ETCD_PEER_CERT_FILE',
  'ETCD_PEER_KEY_FILE',
  'ETCD_PEER_TRUSTED_CA_FILE',
  'ETCD_PEER_CLIENT_CERT_AUTH',
] as const;

const EXTRA_KEY = /^ETCD_[A-Z0-9_]+$/;
/** Member names end up in `name=url,name=url`: no separators, no blanks. */
const MEMBER_NAME = /^[^\s=,"'\\]+$/;

export const ETCD_CONF_HEADER = [
  '# etcd configuration, written by etcd-agent. It will be overwritten: do not edit.',
  '# Change the agent configuration (/etc/etcd-agent/config.yaml) instead.',
  '# Read by etcd.service through EnvironmentFile= (or by the agent\'s process backend).',
];

export function renderEtcdConf(input: EtcdConfInput): string {
  validate(input);
  const initialCluster = input.initialCluster.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const lines: string[] = [
    ...ETCD_CONF_HEADER,
    '',
    '# member',
    formatEnvLine('ETCD_NAME', input.name),
    formatEnvLine('ETCD_DATA_DIR', input.dataDir),
    formatEnvLine('ETCD_LISTEN_CLIENT_URLS', input.listenClientUrls.join(',')),
    formatEnvLine('ETCD_ADVERTISE_CLIENT_URLS', input.advertiseClientUrls.join(',')),
    formatEnvLine('ETCD_LISTEN_PEER_URLS', input.listenPeerUrls.join(',')),
    formatEnvLine('ETCD_INITIAL_ADVERTISE_PEER_URLS', input.initialAdvertisePeerUrls.join(',')),
    '',
    '# bootstrap (read only while the data dir is empty)',
    formatEnvLine('ETCD_INITIAL_CLUSTER', initialCluster),
    formatEnvLine('ETCD_INITIAL_CLUSTER_TOKEN', input.initialClusterToken),
    formatEnvLine('ETCD_INITIAL_CLUSTER_STATE', input.initialClusterState),
    '',
    '# client TLS: clients must present a certificate signed by the cluster CA',
    formatEnvLine('ETCD_CERT_FILE', input.tls.certFile),
    formatEnvLine('ETCD_KEY_FILE', input.tls.keyFile),
    formatEnvLine('ETCD_TRUSTED_CA_FILE', input.tls.caFile),
    'ETCD_CLIENT_CERT_AUTH=true',
    '',
    '# peer TLS: members authenticate each other with the same certificate',
    formatEnvLine('ETCD_PEER_CERT_FILE', input.tls.certFile),
    formatEnvLine('ETCD_PEER_KEY_FILE', input.tls.keyFile),
    formatEnvLine('ETCD_PEER_TRUSTED_CA_FILE', input.tls.caFile),
    'ETCD_PEER_CLIENT_CERT_AUTH=true',
  ];
  const extra = Object.keys(input.extraEnv ?? {}).sort();
  if (extra.length > 0) {
    lines.push('', '# extra settings from the agent configuration (etcd.extraEnv)');
    for (const key of extra) lines.push(formatEnvLine(key, (input.extraEnv ?? {})[key] ?? ''));
  }
  return `${lines.join('\n')}\n`;
}

function validate(input: EtcdConfInput): void {
  checkMemberName('name', input.name);
  checkPath('dataDir', input.dataDir);
  checkUrls('listenClientUrls', input.listenClientUrls);
  checkUrls('advertiseClientUrls', input.advertiseClientUrls);
  checkUrls('listenPeerUrls', input.listenPeerUrls);
  checkUrls('initialAdvertisePeerUrls', input.initialAdvertisePeerUrls);

  if (!Array.isArray(input.initialCluster) || input.initialCluster.length === 0) {
    throw EtcdConfInvalid('initialCluster', 'is empty; it must list every member (this one included) as name and peer URL');
  }
  input.initialCluster.forEach((m, i) => {
    checkMemberName(`initialCluster[${i}].name`, m.name);
    checkUrl(`initialCluster[${i}].peerUrl`, m.peerUrl);
  });
  const own = input.initialCluster.filter((m) => m.name === input.name).map((m) => normalizeUrl(m.peerUrl));
  if (own.length === 0) {
    throw EtcdConfInvalid(
      'initialCluster',
      `does not list this member (${input.name}); etcd refuses to start without its own name=peerUrl entry`,
    );
  }
  const advertised = input.initialAdvertisePeerUrls.map(normalizeUrl);
  if (own.length !== advertised.length || !own.every((u) => advertised.includes(u))) {
    throw EtcdConfInvalid(
      'initialAdvertisePeerUrls',
      `(${input.initialAdvertisePeerUrls.join(',')}) differs from this member's entries in initialCluster (${own.join(',')}); etcd refuses that mismatch`,
    );
  }

  checkValue('initialClusterToken', input.initialClusterToken);
  if (input.initialClusterToken === '' || /\s/.test(input.initialClusterToken)) {
    throw EtcdConfInvalid('initialClusterToken', 'must be a non-empty word without blanks');
  }
  if (input.initialClusterState !== 'new' && input.initialClusterState !== 'existing') {
    throw EtcdConfInvalid('initialClusterState', `is ${JSON.stringify(input.initialClusterState)}; it must be 'new' or 'existing'`);
  }
  if (input.tls === undefined || input.tls === null) throw EtcdConfInvalid('tls', 'is missing; etcd-agent only runs etcd with TLS');
  checkPath('tls.caFile', input.tls.caFile);
  checkPath('tls.certFile', input.tls.certFile);
  checkPath('tls.keyFile', input.tls.keyFile);

  const owned = new Set<string>(ETCD_CONF_KEYS);
  for (const [key, value] of Object.entries(input.extraEnv ?? {})) {
    const field = `extraEnv.${key}`;
    if (!EXTRA_KEY.test(key)) {
      throw EtcdConfInvalid(field, 'is not an etcd setting; keys must look like ETCD_SOME_FLAG (upper case, digits, underscores)');
    }
    if (owned.has(key)) {
      throw EtcdConfInvalid(field, 'is managed by etcd-agent itself and cannot be overridden; remove it from etcd.extraEnv');
    }
    checkValue(field, value);
  }
}

function checkMemberName(field: string, name: string): void {
  if (typeof name !== 'string' || name === '') throw EtcdConfInvalid(field, 'is empty; every etcd member needs a name');
  checkValue(field, name);
  if (!MEMBER_NAME.test(name)) {
    throw EtcdConfInvalid(field, `(${JSON.stringify(name)}) may not contain blanks, '=', ',' or backslashes`);
  }
}

function checkPath(field: string, path: string): void {
  if (typeof path !== 'string' || path === '') throw EtcdConfInvalid(field, 'is empty; give an absolute path');
  checkValue(field, path);
  if (!isAbsolute(path)) throw EtcdConfInvalid(field, `(${path}) is not an absolute path`);
}

function checkUrls(field: string, urls: string[]): void {
  if (!Array.isArray(urls) || urls.length === 0) throw EtcdConfInvalid(field, 'is empty; give at least one https:// URL');
  urls.forEach((u, i) => checkUrl(`${field}[${i}]`, u));
}

function checkUrl(field: string, url: string): void {
  if (typeof url !== 'string' || url === '') throw EtcdConfInvalid(field, 'is empty; give an https://HOST:PORT URL');
  checkValue(field, url);
  if (/[\s,]/.test(url)) throw EtcdConfInvalid(field, `(${url}) may not contain blanks or commas`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw EtcdConfInvalid(field, `(${url}) is not a URL; give https://HOST:PORT`);
  }
  if (parsed.protocol !== 'https:') {
    throw EtcdConfInvalid(field, `(${url}) must use https://; etcd-agent runs etcd with TLS only`);
  }
  if (parsed.port === '' || (parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search !== '' || parsed.hash !== '') {
    throw EtcdConfInvalid(field, `(${url}) must be exactly https://HOST:PORT, with an explicit port and no path`);
  }
}

function normalizeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return url;
  }
}
