import { Document } from 'yaml';
import { isPlainObject } from './env.js';
import { CONFIG_FIELDS, type RawConfig, type RawValue } from './schema.js';
import type { AgentConfig } from './types.js';
import { formatHostPort } from './address.js';

/**
 * Renders a raw config (the file's shape) as YAML, keys in the order of the
 * key table, with a comment on top. Pure: `init` writes the result.
 */
export function renderConfigYaml(raw: RawConfig, header?: string): string {
  const ordered: Record<string, RawValue | Record<string, RawValue>> = {};
  for (const f of CONFIG_FIELDS) {
    const [section, key] = f.path.split('.') as [string, string | undefined];
    if (key === undefined) {
      const v = raw[section];
      if (v !== undefined) ordered[section] = v;
      continue;
    }
    const src = raw[section];
    if (!isPlainObject(src)) continue;
    const v = src[key] as RawValue | undefined;
    if (v === undefined) continue;
    const target = (ordered[section] ??= {}) as Record<string, RawValue>;
    target[key] = v;
  }
  const doc = new Document(ordered);
  if (header !== undefined) doc.commentBefore = header.split('\n').map((l) => (l === '' ? '' : ` ${l}`)).join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** A short human summary for `check-config`; never contains the token. */
export function renderConfigSummary(config: AgentConfig): string {
  const seeds = config.discovery.seeds.map((s) => formatHostPort(s.host, s.port));
  const rows: [string, string][] = [
    ['config', config.source ?? '(in memory)'],
    ['cluster', `${config.cluster.name} (size ${config.cluster.size})`],
    ['token', config.cluster.tokenFile === undefined ? 'set in the config' : `from ${config.cluster.tokenFile}`],
    ['node name', config.node.name],
    ['advertise address', `${config.node.advertiseAddress} (${config.node.advertiseAddressSource})`],
    ['peer API', formatHostPort(config.peerApi.listenAddress, config.peerApi.port)],
    ['status API', formatHostPort(config.statusApi.host, config.statusApi.port)],
    ['mdns', config.discovery.mdns ? `on${config.discovery.mdnsInterface === undefined ? '' : ` (${config.discovery.mdnsInterface})`}` : 'off'],
    ['seeds', seeds.length === 0 ? '(none)' : seeds.join(', ')],
    ['etcd', `${config.etcd.binary}, client port ${config.etcd.clientPort}, peer port ${config.etcd.peerPort}`],
    ['etcd data dir', config.etcd.dataDir],
    ['service manager', config.serviceManager],
  ];
  if (config.paths.root !== '/') rows.push(['root', config.paths.root]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
