/**
 * Hostile config files: one row per case. `set` changes keys of a valid base
 * config (undefined removes the key); `text` replaces the whole file. Every
 * row must make `etcd-agent check-config` exit 2 with a message containing
 * each string of `says`.
 */
import { BILLION_LAUGHS } from '../helpers/hostile-inputs.js';

export interface ConfigCase {
  name: string;
  set?: Record<string, unknown>;
  text?: string;
  says: string[];
}

const long = (n: number, c = 'a'): string => c.repeat(n);

export const CONFIG_CASES: readonly ConfigCase[] = [
  // whole-file shapes
  { name: 'empty file', text: '', says: ['sets no keys'] },
  { name: 'only a comment', text: '# nothing here\n', says: ['sets no keys'] },
  { name: 'a YAML list at the top', text: '- cluster\n- node\n', says: ['mapping'] },
  { name: 'a bare scalar', text: 'prod\n', says: ['mapping'] },
  { name: 'YAML syntax error', text: 'cluster:\n  name: prod\n  size: [3\n', says: ['YAML'] },
  { name: 'tab indentation', text: 'cluster:\n\tname: prod\n', says: ['YAML'] },
  { name: 'duplicate key', text: 'cluster:\n  name: a\n  name: b\n  size: 3\n', says: ['unique'] },
  { name: 'alias bomb', text: BILLION_LAUGHS, says: ['alias'] },
  { name: 'custom YAML tag', text: 'cluster: !!js/function "return 1"\n', says: ['cluster'] },
  { name: 'NUL byte in the file', text: 'cluster:\n  name: pr\0od\n  size: 3\n', says: ['cluster.name'] },
  { name: 'binary garbage', text: '\u00ff\u00fe\u0000\u0001garbage\u0002', says: ['config'] },
  { name: 'JSON array document', text: '[1, 2, 3]\n', says: ['mapping'] },
  { name: 'two YAML documents', text: 'cluster: {name: a, size: 3}\n---\ncluster: {name: b}\n', says: ['document'] },
  // unknown and misplaced keys
  { name: 'unknown top-level key', set: { bogus: 1 }, says: ['bogus'] },
  { name: 'unknown key with a suggestion', set: { 'cluster.sise': 3 }, says: ['cluster.sise', 'cluster.size'] },
  { name: 'key in the wrong section', set: { 'node.seeds': ['127.0.0.12'] }, says: ['discovery.seeds'] },
  { name: 'snake_case spelling', set: { 'node.advertise_address': '127.0.0.11' }, says: ['node.advertiseAddress'] },
  { name: 'section that is a string', set: { discovery: 'mdns' }, says: ['discovery', 'mapping'] },
  { name: 'section that is a list', set: { etcd: ['a'] }, says: ['etcd', 'mapping'] },
  { name: 'etcd.conf variable as a key', set: { ETCD_NAME: 'x' }, says: ['ETCD_NAME'] },
  // cluster
  { name: 'cluster.name missing', set: { 'cluster.name': undefined }, says: ['cluster.name', 'missing'] },
  { name: 'cluster.name upper case', set: { 'cluster.name': 'Prod' }, says: ['cluster.name', '"Prod"'] },
  { name: 'cluster.name with a slash', set: { 'cluster.name': 'a/b' }, says: ['cluster.name'] },
  { name: 'cluster.name path traversal', set: { 'cluster.name': '../etc' }, says: ['cluster.name'] },
  { name: 'cluster.name 64 characters', set: { 'cluster.name': long(64) }, says: ['cluster.name'] },
  { name: 'cluster.name a number', set: { 'cluster.name': 42 }, says: ['cluster.name'] },
  { name: 'cluster.name with a newline', set: { 'cluster.name': 'a\nb' }, says: ['cluster.name'] },
  { name: 'cluster.name with an escape sequence', set: { 'cluster.name': '\u001b[31mred' }, says: ['cluster.name'] },
  { name: 'cluster.name "default" (Debian data dir)', set: { 'cluster.name': 'default' }, says: ['cluster.name', 'Debian'] },
  { name: 'cluster.size missing', set: { 'cluster.size': undefined }, says: ['cluster.size', 'missing'] },
  { name: 'cluster.size 0', set: { 'cluster.size': 0 }, says: ['cluster.size'] },
  { name: 'cluster.size 10', set: { 'cluster.size': 10 }, says: ['cluster.size'] },
  { name: 'cluster.size negative', set: { 'cluster.size': -3 }, says: ['cluster.size'] },
  { name: 'cluster.size 2.5', set: { 'cluster.size': 2.5 }, says: ['cluster.size'] },
  { name: 'cluster.size as words', set: { 'cluster.size': 'three' }, says: ['cluster.size'] },
  { name: 'cluster.size huge', set: { 'cluster.size': 1e300 }, says: ['cluster.size'] },
  { name: 'cluster.size a list', set: { 'cluster.size': [3] }, says: ['cluster.size'] },
  { name: 'no token at all', set: { 'cluster.tokenFile': undefined }, says: ['token'] },
  { name: 'token and tokenFile both', set: { 'cluster.token': 'x'.repeat(40) }, says: ['cluster.token', 'cluster.tokenFile'] },
  { name: 'token too short', set: { 'cluster.tokenFile': undefined, 'cluster.token': 'short' }, says: ['cluster.token'] },
  { name: 'token of one repeated character', set: { 'cluster.tokenFile': undefined, 'cluster.token': 'a'.repeat(64) }, says: ['cluster.token'] },
  { name: 'token a number', set: { 'cluster.tokenFile': undefined, 'cluster.token': 12345678901234567890 }, says: ['cluster.token'] },
  { name: 'token empty', set: { 'cluster.tokenFile': undefined, 'cluster.token': '   ' }, says: ['cluster.token', 'empty'] },
  { name: 'tokenFile relative', set: { 'cluster.tokenFile': 'token' }, says: ['cluster.tokenFile', 'absolute'] },
  { name: 'tokenFile missing file', set: { 'cluster.tokenFile': '/nonexistent/etcd-agent/token' }, says: ['/nonexistent/etcd-agent/token'] },
  { name: 'tokenFile is a directory', set: { 'cluster.tokenFile': '/tmp' }, says: ['/tmp'] },
  { name: 'tokenFile is /dev/zero', set: { 'cluster.tokenFile': '/dev/zero' }, says: ['/dev/zero'] },
  // node
  { name: 'node.name with a space', set: { 'node.name': 'my host' }, says: ['node.name'] },
  { name: 'node.name 64 characters', set: { 'node.name': long(64) }, says: ['node.name'] },
  { name: 'node.name with a comma (breaks ETCD_INITIAL_CLUSTER)', set: { 'node.name': 'a,b' }, says: ['node.name'] },
  { name: 'node.name with "="', set: { 'node.name': 'a=b' }, says: ['node.name'] },
  { name: 'node.name empty', set: { 'node.name': '' }, says: ['node.name', 'empty'] },
  { name: 'advertiseAddress a hostname', set: { 'node.advertiseAddress': 'etcd1.example' }, says: ['node.advertiseAddress'] },
  { name: 'advertiseAddress 0.0.0.0', set: { 'node.advertiseAddress': '0.0.0.0' }, says: ['node.advertiseAddress'] },
  { name: 'advertiseAddress multicast', set: { 'node.advertiseAddress': '224.0.0.251' }, says: ['node.advertiseAddress'] },
  { name: 'advertiseAddress broadcast', set: { 'node.advertiseAddress': '255.255.255.255' }, says: ['node.advertiseAddress'] },
  { name: 'advertiseAddress with a port', set: { 'node.advertiseAddress': '127.0.0.11:2380' }, says: ['node.advertiseAddress'] },
  { name: 'advertiseAddress out-of-range octet', set: { 'node.advertiseAddress': '10.0.0.256' }, says: ['node.advertiseAddress'] },
  // discovery
  { name: 'mdns as a string', set: { 'discovery.mdns': 'sometimes' }, says: ['discovery.mdns'] },
  { name: 'seeds a string', set: { 'discovery.seeds': '127.0.0.12' }, says: ['discovery.seeds'] },
  { name: 'seed with a bad port', set: { 'discovery.seeds': ['127.0.0.12:99999'] }, says: ['discovery.seeds'] },
  { name: 'seed with a URL', set: { 'discovery.seeds': ['https://127.0.0.12:2390'] }, says: ['discovery.seeds'] },
  { name: 'seed with a space', set: { 'discovery.seeds': ['a b'] }, says: ['discovery.seeds'] },
  { name: 'seed a number', set: { 'discovery.seeds': [42] }, says: ['discovery.seeds'] },
  { name: 'seed IPv6 with two "::"', set: { 'discovery.seeds': ['fd00::1::2'] }, says: ['discovery.seeds'] },
  { name: 'mdns off and no seeds', set: { 'discovery.seeds': [] }, says: ['discovery.seeds'] },
  { name: 'mdnsInterface with a slash', set: { 'discovery.mdnsInterface': 'eth0/1' }, says: ['discovery.mdnsInterface'] },
  // ports and addresses
  { name: 'peerApi.port 0', set: { 'peerApi.port': 0 }, says: ['peerApi.port'] },
  { name: 'peerApi.port a string', set: { 'peerApi.port': 'http' }, says: ['peerApi.port'] },
  { name: 'etcd.clientPort 70000', set: { 'etcd.clientPort': 70000 }, says: ['etcd.clientPort'] },
  { name: 'client port = peer port', set: { 'etcd.clientPort': 2380 }, says: ['etcd.clientPort'] },
  { name: 'statusApi on all interfaces', set: { 'statusApi.address': '0.0.0.0:2391' }, says: ['statusApi.address', 'loopback'] },
  { name: 'statusApi on a public address', set: { 'statusApi.address': '8.8.8.8:2391' }, says: ['statusApi.address'] },
  { name: 'statusApi port 0', set: { 'statusApi.address': '127.0.0.1:0' }, says: ['statusApi.address'] },
  // etcd and paths
  { name: 'etcd.binary relative', set: { 'etcd.binary': 'etcd' }, says: ['etcd.binary'] },
  { name: 'etcd.dataDir Debian default', set: { 'etcd.dataDir': '/var/lib/etcd/default' }, says: ['etcd.dataDir', 'Debian'] },
  { name: 'etcd.dataDir relative', set: { 'etcd.dataDir': 'data' }, says: ['etcd.dataDir', 'absolute'] },
  { name: 'extraEnv overrides a managed variable', set: { 'etcd.extraEnv': { ETCD_INITIAL_CLUSTER_STATE: 'new' } }, says: ['ETCD_INITIAL_CLUSTER_STATE'] },
  { name: 'extraEnv with a line break', set: { 'etcd.extraEnv': { ETCD_LOG_LEVEL: 'info\nETCD_NAME=evil' } }, says: ['ETCD_LOG_LEVEL'] },
  { name: 'extraEnv lower-case key', set: { 'etcd.extraEnv': { etcd_debug: 'true' } }, says: ['etcd_debug'] },
  { name: 'extraEnv nested value', set: { 'etcd.extraEnv': { ETCD_DEBUG: { a: 1 } } }, says: ['ETCD_DEBUG'] },
  { name: 'paths.stateDir relative', set: { 'paths.stateDir': 'state' }, says: ['paths.stateDir'] },
  { name: 'paths.pkiDir a number', set: { 'paths.pkiDir': 7 }, says: ['paths.pkiDir'] },
  // day 2
  { name: 'pki.certValidity without a unit', set: { 'pki.certValidity': '365' }, says: ['pki.certValidity'] },
  { name: 'pki.certValidity one minute', set: { 'pki.certValidity': '1m' }, says: ['pki.certValidity', '2m'] },
  { name: 'pki.certValidity 20 years', set: { 'pki.certValidity': '7300d' }, says: ['pki.certValidity'] },
  { name: 'pki.expiryWarning negative', set: { 'pki.expiryWarning': '-7d' }, says: ['pki.expiryWarning'] },
  { name: 'membership.deadAfter 1s', set: { 'membership.deadAfter': '1s' }, says: ['membership.deadAfter'] },
  { name: 'membership.learnerTimeout words', set: { 'membership.learnerTimeout': 'five minutes' }, says: ['membership.learnerTimeout'] },
  { name: 'snapshots.keep negative', set: { 'snapshots.keep': -1 }, says: ['snapshots.keep'] },
  { name: 'snapshots.interval as a float', set: { 'snapshots.interval': 1.5 }, says: ['snapshots.interval'] },
  { name: 'serviceManager unknown', set: { serviceManager: 'openrc' }, says: ['serviceManager', 'openrc'] },
  { name: 'log.level unknown', set: { 'log.level': 'loud' }, says: ['log.level'] },
];
