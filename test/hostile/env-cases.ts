/**
 * Hostile ETCD_AGENT_* environment overrides on a valid config file. Every
 * row must make check-config exit 2 with a message naming the variable.
 */
export interface EnvCase {
  name: string;
  env: Record<string, string>;
  says: string[];
}

export const ENV_CASES: readonly EnvCase[] = [
  { name: 'size as words', env: { ETCD_AGENT_CLUSTER_SIZE: 'three' }, says: ['ETCD_AGENT_CLUSTER_SIZE', '"three"'] },
  { name: 'size 0', env: { ETCD_AGENT_CLUSTER_SIZE: '0' }, says: ['ETCD_AGENT_CLUSTER_SIZE'] },
  { name: 'size hex', env: { ETCD_AGENT_CLUSTER_SIZE: '0x3' }, says: ['ETCD_AGENT_CLUSTER_SIZE'] },
  { name: 'size with a unit', env: { ETCD_AGENT_CLUSTER_SIZE: '3 nodes' }, says: ['ETCD_AGENT_CLUSTER_SIZE'] },
  { name: 'cluster name upper case', env: { ETCD_AGENT_CLUSTER_NAME: 'PROD' }, says: ['ETCD_AGENT_CLUSTER_NAME'] },
  { name: 'cluster name with a newline', env: { ETCD_AGENT_CLUSTER_NAME: 'a\nb' }, says: ['ETCD_AGENT_CLUSTER_NAME'] },
  { name: 'weak token', env: { ETCD_AGENT_CLUSTER_TOKEN: 'password123' }, says: ['ETCD_AGENT_CLUSTER_TOKEN'] },
  { name: 'token file missing', env: { ETCD_AGENT_CLUSTER_TOKEN_FILE: '/nonexistent/token' }, says: ['ETCD_AGENT_CLUSTER_TOKEN_FILE', '/nonexistent/token'] },
  { name: 'token file relative', env: { ETCD_AGENT_CLUSTER_TOKEN_FILE: 'token' }, says: ['ETCD_AGENT_CLUSTER_TOKEN_FILE'] },
  { name: 'mdns maybe', env: { ETCD_AGENT_DISCOVERY_MDNS: 'maybe' }, says: ['ETCD_AGENT_DISCOVERY_MDNS', '"maybe"'] },
  { name: 'seeds with a bad port', env: { ETCD_AGENT_DISCOVERY_SEEDS: 'a:1,b:x' }, says: ['ETCD_AGENT_DISCOVERY_SEEDS'] },
  { name: 'seeds with a URL', env: { ETCD_AGENT_DISCOVERY_SEEDS: 'https://a:2390' }, says: ['ETCD_AGENT_DISCOVERY_SEEDS'] },
  { name: 'advertise address a name', env: { ETCD_AGENT_NODE_ADVERTISE_ADDRESS: 'localhost' }, says: ['ETCD_AGENT_NODE_ADVERTISE_ADDRESS'] },
  { name: 'node name with a comma', env: { ETCD_AGENT_NODE_NAME: 'a,b' }, says: ['ETCD_AGENT_NODE_NAME'] },
  { name: 'peer port text', env: { ETCD_AGENT_PEER_API_PORT: 'https' }, says: ['ETCD_AGENT_PEER_API_PORT'] },
  { name: 'peer port negative', env: { ETCD_AGENT_PEER_API_PORT: '-1' }, says: ['ETCD_AGENT_PEER_API_PORT'] },
  { name: 'status API public', env: { ETCD_AGENT_STATUS_API_ADDRESS: '0.0.0.0:2391' }, says: ['ETCD_AGENT_STATUS_API_ADDRESS'] },
  { name: 'client port out of range', env: { ETCD_AGENT_ETCD_CLIENT_PORT: '65536' }, says: ['ETCD_AGENT_ETCD_CLIENT_PORT'] },
  { name: 'data dir of Debian', env: { ETCD_AGENT_ETCD_DATA_DIR: '/var/lib/etcd/default' }, says: ['ETCD_AGENT_ETCD_DATA_DIR'] },
  { name: 'binary relative', env: { ETCD_AGENT_ETCD_BINARY: 'etcd' }, says: ['ETCD_AGENT_ETCD_BINARY'] },
  { name: 'state dir relative', env: { ETCD_AGENT_PATHS_STATE_DIR: 'state' }, says: ['ETCD_AGENT_PATHS_STATE_DIR'] },
  { name: 'service manager unknown', env: { ETCD_AGENT_SERVICE_MANAGER: 'runit' }, says: ['ETCD_AGENT_SERVICE_MANAGER'] },
  { name: 'log level unknown', env: { ETCD_AGENT_LOG_LEVEL: 'chatty' }, says: ['ETCD_AGENT_LOG_LEVEL'] },
  { name: 'cert validity too short', env: { ETCD_AGENT_PKI_CERT_VALIDITY: '30s' }, says: ['ETCD_AGENT_PKI_CERT_VALIDITY'] },
  { name: 'cert validity with both keys', env: { ETCD_AGENT_PKI_CERT_VALIDITY: '90d', ETCD_AGENT_PKI_CERT_VALIDITY_DAYS: '90' }, says: ['pki.certValidity'] },
  { name: 'dead after too short', env: { ETCD_AGENT_MEMBERSHIP_DEAD_AFTER: '3s' }, says: ['ETCD_AGENT_MEMBERSHIP_DEAD_AFTER'] },
  { name: 'snapshot interval garbage', env: { ETCD_AGENT_SNAPSHOTS_INTERVAL: 'hourly' }, says: ['ETCD_AGENT_SNAPSHOTS_INTERVAL'] },
  { name: 'snapshot keep text', env: { ETCD_AGENT_SNAPSHOTS_KEEP: 'all' }, says: ['ETCD_AGENT_SNAPSHOTS_KEEP'] },
  { name: 'config path to a missing file', env: { ETCD_AGENT_CONFIG: '/nonexistent/config.yaml' }, says: [] },
];
