import t from 'tap';
import { chmod, readdir, writeFile } from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateToken } from '../../src/pki/token.js';
import {
  CONFIG_FIELDS,
  ConfigError,
  ENV_OVERRIDES,
  loadConfig,
  loadConfigDetailed,
  parseHostPort,
  resolveConfigPath,
  validateRawConfig,
  type InterfaceMap,
  type ValidateContext,
} from '../../src/agent/config/index.js';
import { tempDir } from '../helpers/fixtures.js';

const TOKEN = generateToken();

function iface(address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` };
}
const INTERFACES: InterfaceMap = {
  lo: [iface('127.0.0.1', true)],
  eth0: [iface('10.0.0.11')],
  eth1: [iface('192.168.5.11')],
};
const HOOKS: Pick<ValidateContext, 'hostname' | 'networkInterfaces'> = { hostname: 'Host1', networkInterfaces: INTERFACES };

type Doc = Record<string, unknown>;

/** Sets (or, with undefined, deletes) a dotted key in a plain document. */
function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  const last = parts.pop() as string;
  let target = doc;
  for (const p of parts) {
    const next = target[p];
    if (typeof next !== 'object' || next === null) target[p] = {};
    target = target[p] as Doc;
  }
  if (value === undefined) delete target[last];
  else target[last] = value;
}

async function tokenFile(dir: string, content = `${TOKEN}\n`, mode = 0o600): Promise<string> {
  const file = join(dir, `token-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, content, { mode });
  await chmod(file, mode);
  return file;
}

function baseDoc(): Doc {
  return {
    cluster: { name: 'prod', size: 3, token: TOKEN },
    node: { name: 'host1', advertiseAddress: '10.0.0.11' },
    discovery: { mdns: true, seeds: ['10.0.0.12', '10.0.0.13:2390'] },
  };
}

async function writeConfig(dir: string, doc: Doc | string, mode = 0o600): Promise<string> {
  const file = join(dir, 'config.yaml');
  await writeFile(file, typeof doc === 'string' ? doc : stringify(doc), { mode });
  await chmod(file, mode);
  return file;
}

async function expectInvalid(path: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  try {
    await loadConfig({ path, env, context: HOOKS });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted an invalid config');
}

interface Row {
  name: string;
  /** Dotted key → value; undefined deletes. Values that are functions get the temp dir. */
  set?: Record<string, unknown | ((dir: string) => Promise<unknown>)>;
  text?: string;
  key: string | ((file: string) => string);
  /** Substrings the problem's message must contain. */
  says?: string[];
}

const ROWS: Row[] = [
  { name: 'cluster.name with bad characters', set: { 'cluster.name': 'Prod_1' }, key: 'cluster.name', says: ['"Prod_1"', 'a-z'] },
  { name: 'cluster.name too long', set: { 'cluster.name': 'a'.repeat(64) }, key: 'cluster.name', says: ['63'] },
  { name: 'cluster.name missing', set: { 'cluster.name': undefined }, key: 'cluster.name', says: ['missing'] },
  { name: 'cluster.name "default" puts data in Debian\'s dir', set: { 'cluster.name': 'default' }, key: 'cluster.name', says: ['/var/lib/etcd/default'] },
  { name: 'cluster.size 0', set: { 'cluster.size': 0 }, key: 'cluster.size', says: ['is 0', '1 to 9'] },
  { name: 'cluster.size 10', set: { 'cluster.size': 10 }, key: 'cluster.size', says: ['is 10', '1 to 9'] },
  { name: 'cluster.size "three"', set: { 'cluster.size': 'three' }, key: 'cluster.size', says: ['"three"', 'integer'] },
  { name: 'cluster.size 2.5', set: { 'cluster.size': 2.5 }, key: 'cluster.size', says: ['2.5'] },
  { name: 'cluster.size missing', set: { 'cluster.size': undefined }, key: 'cluster.size' },
  { name: 'token missing', set: { 'cluster.token': undefined }, key: 'cluster.token', says: ['cluster.tokenFile', 'token generate'] },
  { name: 'both token and tokenFile', set: { 'cluster.tokenFile': (d: string) => tokenFile(d) }, key: 'cluster.token', says: ['exactly one'] },
  { name: 'short token', set: { 'cluster.token': 'short-secret' }, key: 'cluster.token', says: ['at least'] },
  {
    name: 'token file world-readable',
    set: { 'cluster.token': undefined, 'cluster.tokenFile': (d: string) => tokenFile(d, `${TOKEN}\n`, 0o644) },
    key: 'cluster.tokenFile',
    says: ['chmod 600', '0644'],
  },
  {
    name: 'token file group-readable',
    set: { 'cluster.token': undefined, 'cluster.tokenFile': (d: string) => tokenFile(d, `${TOKEN}\n`, 0o640) },
    key: 'cluster.tokenFile',
    says: ['chmod 600'],
  },
  {
    name: 'token file missing',
    set: { 'cluster.token': undefined, 'cluster.tokenFile': async (d: string) => join(d, 'no-such-token') },
    key: 'cluster.tokenFile',
    says: ['does not exist', 'token generate'],
  },
  {
    name: 'token file holds a short token',
    set: { 'cluster.token': undefined, 'cluster.tokenFile': (d: string) => tokenFile(d, 'tiny\n') },
    key: 'cluster.tokenFile',
    says: ['at least'],
  },
  { name: 'token file relative', set: { 'cluster.token': undefined, 'cluster.tokenFile': 'token' }, key: 'cluster.tokenFile', says: ['relative'] },
  { name: 'node.name invalid', set: { 'node.name': 'host 1' }, key: 'node.name', says: ['"host 1"'] },
  { name: 'node.name too long', set: { 'node.name': 'h'.repeat(64) }, key: 'node.name' },
  { name: 'advertiseAddress a name', set: { 'node.advertiseAddress': 'host1.example' }, key: 'node.advertiseAddress', says: ['"host1.example"'] },
  { name: 'advertiseAddress 0.0.0.0', set: { 'node.advertiseAddress': '0.0.0.0' }, key: 'node.advertiseAddress', says: ['0.0.0.0'] },
  { name: 'advertiseAddress bad IPv4', set: { 'node.advertiseAddress': '10.0.0.300' }, key: 'node.advertiseAddress' },
  { name: 'seeds with bad port', set: { 'discovery.seeds': ['10.0.0.12:99999'] }, key: 'discovery.seeds', says: ['99999', '65535'] },
  { name: 'seeds with port 0', set: { 'discovery.seeds': ['10.0.0.12:0'] }, key: 'discovery.seeds' },
  { name: 'seeds with empty host', set: { 'discovery.seeds': ['10.0.0.12', ':2390'] }, key: 'discovery.seeds', says: ['entry 2', 'empty host'] },
  { name: 'seeds with unbracketed IPv6 and port', set: { 'discovery.seeds': ['fe80::1:2390:x'] }, key: 'discovery.seeds', says: ['[addr]:port'] },
  { name: 'seeds not a list', set: { 'discovery.seeds': '10.0.0.12' }, key: 'discovery.seeds', says: ['list'] },
  { name: 'mdns not boolean', set: { 'discovery.mdns': 'yes' }, key: 'discovery.mdns', says: ['"yes"', 'true or false'] },
  { name: 'mdns off and no seeds', set: { 'discovery.mdns': false, 'discovery.seeds': [] }, key: 'discovery.seeds', says: ['cannot find'] },
  { name: 'mdnsInterface that does not exist', set: { 'node.advertiseAddress': undefined, 'discovery.mdnsInterface': 'eth9' }, key: 'discovery.mdnsInterface', says: ['eth9', 'eth0'] },
  { name: 'peerApi.port 0', set: { 'peerApi.port': 0 }, key: 'peerApi.port', says: ['is 0', '1 to 65535'] },
  { name: 'peerApi.port 70000', set: { 'peerApi.port': 70000 }, key: 'peerApi.port', says: ['70000'] },
  { name: 'statusApi.address 0.0.0.0', set: { 'statusApi.address': '0.0.0.0:2391' }, key: 'statusApi.address', says: ['0.0.0.0:2391', 'loopback', 'never exposed'] },
  { name: 'statusApi.address 10.1.2.3', set: { 'statusApi.address': '10.1.2.3:2391' }, key: 'statusApi.address', says: ['10.1.2.3'] },
  { name: 'statusApi.address a name', set: { 'statusApi.address': 'localhost:2391' }, key: 'statusApi.address', says: ['127.0.0.1:2391'] },
  { name: 'statusApi port taken by the peer API', set: { 'statusApi.address': '127.0.0.1:2390' }, key: 'statusApi.address', says: ['peerApi.port'] },
  { name: 'etcd peer port = client port', set: { 'etcd.clientPort': 2380 }, key: 'etcd.peerPort', says: ['2380', 'etcd.clientPort'] },
  { name: 'etcd client port = peerApi.port', set: { 'etcd.clientPort': 2390 }, key: 'etcd.clientPort', says: ['peerApi.port'] },
  { name: 'etcd peer port = peerApi.port', set: { 'peerApi.port': 2380 }, key: 'etcd.peerPort', says: ['peerApi.port'] },
  { name: 'etcd.clientPort out of range', set: { 'etcd.clientPort': 65536 }, key: 'etcd.clientPort' },
  { name: 'dataDir = /var/lib/etcd/default', set: { 'etcd.dataDir': '/var/lib/etcd/default' }, key: 'etcd.dataDir', says: ['/var/lib/etcd/default', 'Debian'] },
  { name: 'dataDir = /var/lib/etcd/', set: { 'etcd.dataDir': '/var/lib/etcd/' }, key: 'etcd.dataDir', says: ['/var/lib/etcd'] },
  { name: 'dataDir relative', set: { 'etcd.dataDir': 'data/etcd' }, key: 'etcd.dataDir', says: ['"data/etcd"', 'absolute'] },
  { name: 'stateDir relative', set: { 'paths.stateDir': 'var/lib/etcd-agent' }, key: 'paths.stateDir', says: ['absolute'] },
  { name: 'root relative', set: { 'paths.root': 'tmp/n1' }, key: 'paths.root' },
  { name: 'etcd.binary relative', set: { 'etcd.binary': 'etcd' }, key: 'etcd.binary' },
  { name: 'extraEnv bad key', set: { 'etcd.extraEnv': { QUOTA: '1' } }, key: 'etcd.extraEnv', says: ['"QUOTA"', 'ETCD_'] },
  { name: 'extraEnv managed key', set: { 'etcd.extraEnv': { ETCD_DATA_DIR: '/x' } }, key: 'etcd.extraEnv', says: ['ETCD_DATA_DIR', 'manages'] },
  { name: 'extraEnv multi-line value', set: { 'etcd.extraEnv': { ETCD_LOG_LEVEL: 'info\nETCD_NAME=x' } }, key: 'etcd.extraEnv' },
  { name: 'certValidityDays 0', set: { 'pki.certValidityDays': 0 }, key: 'pki.certValidityDays', says: ['1 to 3650'] },
  { name: 'certValidityDays 4000', set: { 'pki.certValidityDays': 4000 }, key: 'pki.certValidityDays' },
  { name: 'caValidityDays below certValidityDays', set: { 'pki.caValidityDays': 100 }, key: 'pki.caValidityDays', says: ['100', 'pki.certValidityDays'] },
  { name: 'caValidityDays 40000', set: { 'pki.caValidityDays': 40000 }, key: 'pki.caValidityDays', says: ['36500'] },
  { name: 'certValidity below 2m', set: { 'pki.certValidity': '90s' }, key: 'pki.certValidity', says: ['"90s"', '2m'] },
  { name: 'certValidity not a duration', set: { 'pki.certValidity': '1 year' }, key: 'pki.certValidity', says: ['duration'] },
  { name: 'certValidity as a bare number', set: { 'pki.certValidity': 365 }, key: 'pki.certValidity', says: ['365', 'duration'] },
  { name: 'certValidity 0 is not off', set: { 'pki.certValidity': '0' }, key: 'pki.certValidity' },
  { name: 'certValidity and certValidityDays together', set: { 'pki.certValidity': '90d', 'pki.certValidityDays': 90 }, key: 'pki.certValidityDays', says: ['both set', 'pki.certValidity'] },
  { name: 'caValidityDays below certValidity', set: { 'pki.certValidity': '3000d', 'pki.caValidityDays': 2000 }, key: 'pki.caValidityDays', says: ['2000', 'pki.certValidity'] },
  { name: 'expiryWarning garbage', set: { 'pki.expiryWarning': '7 days' }, key: 'pki.expiryWarning', says: ['"7 days"'] },
  { name: 'expiryWarning longer than a quarter of certValidity', set: { 'pki.certValidity': '3m', 'pki.expiryWarning': '1m' }, key: 'pki.expiryWarning', says: ['1m', 'quarter', '45s'] },
  { name: 'default-sized expiryWarning with a 20d certValidity', set: { 'pki.certValidity': '20d', 'pki.expiryWarning': '7d' }, key: 'pki.expiryWarning', says: ['7d', '5d'] },
  { name: 'deadAfter below 10s', set: { 'membership.deadAfter': '5s' }, key: 'membership.deadAfter', says: ['10s'] },
  { name: 'deadAfter 0', set: { 'membership.deadAfter': 0 }, key: 'membership.deadAfter' },
  { name: 'learnerTimeout unit missing', set: { 'membership.learnerTimeout': '300' }, key: 'membership.learnerTimeout', says: ['"300"'] },
  { name: 'snapshots.interval negative', set: { 'snapshots.interval': '-1h' }, key: 'snapshots.interval', says: ['"-1h"'] },
  { name: 'snapshots.interval 1s', set: { 'snapshots.interval': '1s' }, key: 'snapshots.interval', says: ['5s'] },
  { name: 'snapshots.keep 0', set: { 'snapshots.keep': 0 }, key: 'snapshots.keep', says: ['1 to 10000'] },
  { name: 'snapshots.dir relative', set: { 'snapshots.dir': 'snaps' }, key: 'snapshots.dir', says: ['absolute'] },
  { name: 'unknown membership key', set: { 'membership.deadafter': '60s' }, key: 'membership.deadafter', says: ['did you mean membership.deadAfter?'] },
  { name: 'serviceManager bogus', set: { serviceManager: 'upstart' }, key: 'serviceManager', says: ['"upstart"', 'auto, systemd, process'] },
  { name: 'log.level bogus', set: { 'log.level': 'verbose' }, key: 'log.level', says: ['"verbose"', 'debug'] },
  { name: 'unknown key with suggestion', set: { 'discovery.seed': ['10.0.0.12'] }, key: 'discovery.seed', says: ['unknown key discovery.seed', 'did you mean discovery.seeds?'] },
  { name: 'unknown key in the wrong section', set: { 'cluster.seeds': ['10.0.0.12'] }, key: 'cluster.seeds', says: ['did you mean discovery.seeds?'] },
  { name: 'snake_case key', set: { 'cluster.token_file': '/etc/etcd-agent/token' }, key: 'cluster.token_file', says: ['did you mean cluster.tokenFile?'] },
  { name: 'unknown section', set: { dicovery: { mdns: true } }, key: 'dicovery', says: ['did you mean discovery?'] },
  { name: 'section that is not a mapping', set: { node: 'host1' }, key: 'node', says: ['mapping'] },
  {
    name: 'YAML syntax error',
    text: 'cluster:\n  name: prod\n  size: [3\nnode:\n  name: host1\n',
    key: (file) => file,
    says: ['YAML syntax error', 'line '],
  },
  { name: 'YAML duplicate key', text: 'cluster:\n  name: prod\n  name: prod2\n', key: (file) => file, says: ['line 3'] },
];

t.test('every invalid field is reported by its key (EA_CONFIG_INVALID, exit code 2)', async (t) => {
  for (const row of ROWS) {
    await t.test(row.name, async (t) => {
      const dir = tempDir(t, 'ea-cfg-');
      let file: string;
      if (row.text !== undefined) {
        file = await writeConfig(dir, row.text);
      } else {
        const doc = baseDoc();
        for (const [path, value] of Object.entries(row.set ?? {})) {
          setPath(doc, path, typeof value === 'function' ? await (value as (d: string) => Promise<unknown>)(dir) : value);
        }
        file = await writeConfig(dir, doc);
      }
      const err = await expectInvalid(file);
      t.equal(err.code, 'EA_CONFIG_INVALID');
      t.equal(err.exitCode, 2);
      const key = typeof row.key === 'function' ? row.key(file) : row.key;
      t.same([...new Set(err.problems.map((p) => p.key))], [key], `only ${key} is reported: ${err.message}`);
      for (const s of row.says ?? []) t.match(err.message, s, `message says ${JSON.stringify(s)}`);
      for (const p of err.problems) {
        if (key !== file) t.ok(p.message.includes(key), `"${p.message}" names ${key}`);
      }
      t.notOk(err.message.includes(TOKEN), 'the token never appears');
    });
  }
});

t.test('all problems at once, one per line', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const doc = baseDoc();
  setPath(doc, 'cluster.size', 10);
  setPath(doc, 'peerApi.port', 0);
  setPath(doc, 'log.level', 'loud');
  setPath(doc, 'discovery.seed', []);
  const err = await expectInvalid(await writeConfig(dir, doc));
  t.same(err.problems.map((p) => p.key).sort(), ['cluster.size', 'discovery.seed', 'log.level', 'peerApi.port']);
  const lines = err.message.split('\n');
  t.match(lines[0], /config file .*config\.yaml is invalid \(4 problems\)/);
  t.equal(lines.length, 5);
});

t.test('the token never appears in a message', async (t) => {
  const secret = 'SECRET-token-value';
  const cases: [string, (dir: string) => Promise<string>, NodeJS.ProcessEnv?][] = [
    ['short token inline', (d) => writeConfig(d, { ...baseDoc(), cluster: { name: 'prod', size: 3, token: secret } })],
    ['token with whitespace', (d) => writeConfig(d, { ...baseDoc(), cluster: { name: 'prod', size: 3, token: `${secret} and more words here` } })],
    ['token of the wrong type', (d) => writeConfig(d, `cluster:\n  name: prod\n  size: 3\n  token: [${secret}]\n`)],
    ['YAML error on the token line', (d) => writeConfig(d, `cluster:\n  name: prod\n  token: ${secret}: x: y\n  size: 3\n`)],
    ['YAML error after an inline token', (d) => writeConfig(d, `cluster:\n  token: "${TOKEN}\n  size: 3\n`)],
    ['both token and tokenFile', async (d) => writeConfig(d, { ...baseDoc(), cluster: { name: 'prod', size: 3, token: TOKEN, tokenFile: await tokenFile(d) } })],
    ['inline token in a world-readable config', (d) => writeConfig(d, baseDoc(), 0o644)],
    ['token file world-readable', async (d) => writeConfig(d, { ...baseDoc(), cluster: { name: 'prod', size: 3, tokenFile: await tokenFile(d, `${TOKEN}\n`, 0o644) } })],
    ['token file with a bad token', async (d) => writeConfig(d, { ...baseDoc(), cluster: { name: 'prod', size: 3, tokenFile: await tokenFile(d, `${secret} x\n`) } })],
    ['short token from the environment', (d) => writeConfig(d, baseDoc()), { ETCD_AGENT_CLUSTER_TOKEN: secret }],
  ];
  for (const [name, make, env] of cases) {
    const dir = tempDir(t, 'ea-cfg-');
    const err = await expectInvalid(await make(dir), env ?? {});
    t.notOk(err.message.includes(secret) || err.message.includes(TOKEN), `${name}: ${err.message}`);
    t.notOk(JSON.stringify(err.problems).includes(secret) || JSON.stringify(err.problems).includes(TOKEN), `${name}: problems`);
  }
});

t.test('missing config file says how to create it', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const file = join(dir, 'config.yaml');
  const err = await expectInvalid(file);
  t.equal(err.code, 'EA_CONFIG_INVALID');
  t.equal(err.message, `config file ${file} does not exist: run \`etcd-agent init --cluster NAME --size N --token-file FILE\` first`);
  t.same(await readdir(dir), [], 'loading writes nothing');
});

t.test('defaults', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const tf = await tokenFile(dir);
  const file = await writeConfig(dir, { cluster: { name: 'prod', size: 3, tokenFile: tf } });
  const { config, warnings } = await loadConfigDetailed({ path: file, env: {}, context: HOOKS });
  t.same(warnings, []);
  t.same(config, {
    source: file,
    cluster: { name: 'prod', size: 3, token: TOKEN, tokenFile: tf },
    node: { name: 'host1', advertiseAddress: '10.0.0.11', advertiseAddressSource: 'auto (eth0)' },
    discovery: { mdns: true, seeds: [] },
    peerApi: { listenAddress: '0.0.0.0', port: 2390 },
    statusApi: { host: '127.0.0.1', port: 2391 },
    etcd: { binary: '/usr/bin/etcd', clientPort: 2379, peerPort: 2380, dataDir: '/var/lib/etcd/prod', extraEnv: {} },
    paths: {
      root: '/',
      stateDir: '/var/lib/etcd-agent',
      confFile: '/etc/etcd/etcd.conf',
      etcdctlEnvFile: '/etc/etcd/etcdctl.env',
      pkiDir: '/etc/etcd/pki',
      unitFile: '/etc/systemd/system/etcd.service',
    },
    pki: { certValidityMs: 365 * 86_400_000, caValidityDays: 3650, expiryWarningMs: 7 * 86_400_000 },
    membership: { deadAfterMs: 60_000, learnerTimeoutMs: 300_000 },
    snapshots: { intervalMs: 3_600_000, dir: '/var/lib/etcd-agent/snapshots', keep: 24 },
    serviceManager: 'auto',
    log: { level: 'info' },
  });
  t.same(await readdir(dir), [file.split('/').pop(), tf.split('/').pop()].sort(), 'loading writes nothing');
});

t.test('pki.expiryWarning defaults to 7d, or a sixth of a shorter pki.certValidity', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const rows: [Record<string, unknown>, number][] = [
    [{}, 7 * 86_400_000],
    [{ certValidity: '90d' }, 7 * 86_400_000],
    [{ certValidity: '12h' }, 2 * 3_600_000],
    [{ certValidity: '3m' }, 30_000],
    [{ certValidity: '3m', expiryWarning: '45s' }, 45_000],
    [{ certValidity: '3m', expiryWarning: '0' }, 0],
  ];
  for (const [pki, want] of rows) {
    const file = await writeConfig(dir, { cluster: { name: 'prod', size: 3, token: TOKEN }, pki });
    const config = await loadConfig({ path: file, env: {}, context: HOOKS });
    t.equal(config.pki.expiryWarningMs, want, JSON.stringify(pki));
  }
});

t.test('--root prefixes every default path but not explicit ones nor the etcd binary', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const root = join(dir, 'n1');
  const doc: Doc = { cluster: { name: 'demo', size: 1, token: TOKEN }, paths: { pkiDir: '/srv/pki' } };
  for (const via of ['option', 'file'] as const) {
    const d = via === 'file' ? { ...doc, paths: { pkiDir: '/srv/pki', root } } : doc;
    const file = await writeConfig(dir, d);
    const config = await loadConfig({ path: file, env: {}, context: HOOKS, ...(via === 'option' ? { root } : {}) });
    t.same(
      config.paths,
      {
        root,
        stateDir: `${root}/var/lib/etcd-agent`,
        confFile: `${root}/etc/etcd/etcd.conf`,
        etcdctlEnvFile: `${root}/etc/etcd/etcdctl.env`,
        pkiDir: '/srv/pki',
        unitFile: `${root}/etc/systemd/system/etcd.service`,
      },
      via,
    );
    t.equal(config.etcd.dataDir, `${root}/var/lib/etcd/demo`, via);
    t.equal(config.etcd.binary, '/usr/bin/etcd', via);
  }
  t.equal(resolveConfigPath({ root, env: {} }), `${root}/etc/etcd-agent/config.yaml`);
  t.equal(resolveConfigPath({ env: {} }), '/etc/etcd-agent/config.yaml');
  t.equal(resolveConfigPath({ env: { ETCD_AGENT_CONFIG: '/srv/a.yaml' } }), '/srv/a.yaml');
  t.equal(resolveConfigPath({ path: '/srv/b.yaml', env: { ETCD_AGENT_CONFIG: '/srv/a.yaml' } }), '/srv/b.yaml', '--config wins');
});

t.test('advertise address: loopback listens on itself, auto picks an interface', async (t) => {
  const base = { cluster: { name: 'demo', size: 1, token: TOKEN } };
  const loop = validateRawConfig({ ...base, node: { advertiseAddress: '127.0.0.11' } }, {}, HOOKS);
  t.equal(loop.config?.peerApi.listenAddress, '127.0.0.11');
  t.equal(loop.config?.node.advertiseAddressSource, 'config');
  const v6 = validateRawConfig({ ...base, node: { advertiseAddress: 'fd00::11' } }, {}, HOOKS);
  t.equal(v6.config?.peerApi.listenAddress, '::');
  t.match(v6.warnings.map((w) => w.key), ['node.advertiseAddress'], 'an address not on this host is a warning');
  const viaIf = validateRawConfig({ ...base, discovery: { mdnsInterface: 'eth1' } }, {}, HOOKS);
  t.equal(viaIf.config?.node.advertiseAddress, '192.168.5.11');
  t.equal(viaIf.config?.node.advertiseAddressSource, 'auto (eth1)');
  const none = validateRawConfig(base, {}, { ...HOOKS, networkInterfaces: { lo: [iface('127.0.0.1', true)] } });
  t.same(none.problems.map((p) => p.key), ['node.advertiseAddress']);
  const badHost = validateRawConfig(base, {}, { ...HOOKS, hostname: 'my host' });
  t.same(badHost.problems.map((p) => p.key), ['node.name']);
});

t.test('even cluster size is a warning, not an error', async (t) => {
  const r = validateRawConfig({ cluster: { name: 'demo', size: 4, token: TOKEN } }, {}, HOOKS);
  t.ok(r.config);
  t.same(r.warnings.map((w) => w.key), ['cluster.size']);
});

t.test('environment overrides win over the file', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const tf = await tokenFile(dir);
  const file = await writeConfig(dir, {
    cluster: { name: 'prod', size: 3, tokenFile: tf },
    node: { name: 'host1', advertiseAddress: '10.0.0.11' },
    discovery: { mdns: true, seeds: ['10.0.0.99'] },
    serviceManager: 'systemd',
    log: { level: 'info' },
  });
  const other = generateToken();
  const env: NodeJS.ProcessEnv = {
    ETCD_AGENT_CLUSTER_NAME: 'staging',
    ETCD_AGENT_CLUSTER_SIZE: '5',
    ETCD_AGENT_CLUSTER_TOKEN: other,
    ETCD_AGENT_NODE_NAME: 'node-7',
    ETCD_AGENT_NODE_ADVERTISE_ADDRESS: '127.0.0.17',
    ETCD_AGENT_DISCOVERY_SEEDS: ' 10.0.0.12 ,10.0.0.13:2391,[::1]:2392,::2, etcd-3.example.internal,',
    ETCD_AGENT_DISCOVERY_MDNS: 'false',
    ETCD_AGENT_PEER_API_PORT: '2490',
    ETCD_AGENT_STATUS_API_ADDRESS: '[::1]:2491',
    ETCD_AGENT_PATHS_STATE_DIR: '/srv/state',
    ETCD_AGENT_SERVICE_MANAGER: 'process',
    ETCD_AGENT_LOG_LEVEL: 'debug',
    ETCD_AGENT_ETCD_DATA_DIR: '',
  };
  const { config, warnings } = await loadConfigDetailed({ path: file, env, context: HOOKS });
  t.same(warnings, []);
  t.equal(config.cluster.name, 'staging');
  t.equal(config.cluster.size, 5);
  t.equal(config.cluster.token, other, 'the environment token replaces the token file');
  t.equal(config.cluster.tokenFile, undefined);
  t.same(config.node, { name: 'node-7', advertiseAddress: '127.0.0.17', advertiseAddressSource: 'config' });
  t.same(config.discovery.seeds, [
    { host: '10.0.0.12', port: 2490 },
    { host: '10.0.0.13', port: 2391 },
    { host: '::1', port: 2392 },
    { host: '::2', port: 2490 },
    { host: 'etcd-3.example.internal', port: 2490 },
  ]);
  t.equal(config.discovery.mdns, false);
  t.same(config.peerApi, { listenAddress: '127.0.0.17', port: 2490 });
  t.same(config.statusApi, { host: '::1', port: 2491 });
  t.equal(config.paths.stateDir, '/srv/state');
  t.equal(config.etcd.dataDir, '/var/lib/etcd/staging', 'an empty variable counts as unset');
  t.equal(config.serviceManager, 'process');
  t.equal(config.log.level, 'debug');
});

t.test('bad environment values are reported by key and variable', async (t) => {
  const r = validateRawConfig(baseDoc(), { ETCD_AGENT_CLUSTER_SIZE: 'three', ETCD_AGENT_DISCOVERY_MDNS: 'maybe', ETCD_AGENT_DISCOVERY_SEEDS: 'a:1,b:x' }, HOOKS);
  t.same(r.problems.map((p) => p.key).sort(), ['cluster.size', 'discovery.mdns', 'discovery.seeds']);
  t.match(r.problems.find((p) => p.key === 'cluster.size')?.message, 'cluster.size (from ETCD_AGENT_CLUSTER_SIZE) is "three"');
  const typo = validateRawConfig(baseDoc(), { ETCD_AGENT_CLUSTER_SIZ: '3' }, HOOKS);
  t.ok(typo.config, 'an unknown ETCD_AGENT_ variable is not fatal');
  t.match(typo.warnings[0]?.message, 'did you mean ETCD_AGENT_CLUSTER_SIZE?');
});

t.test('environment variable table is derived from the key table', async (t) => {
  const table = Object.fromEntries(ENV_OVERRIDES.map((o) => [o.path, o.env]));
  t.match(table, {
    'cluster.name': 'ETCD_AGENT_CLUSTER_NAME',
    'cluster.token': 'ETCD_AGENT_CLUSTER_TOKEN',
    'cluster.tokenFile': 'ETCD_AGENT_CLUSTER_TOKEN_FILE',
    'node.advertiseAddress': 'ETCD_AGENT_NODE_ADVERTISE_ADDRESS',
    'discovery.seeds': 'ETCD_AGENT_DISCOVERY_SEEDS',
    'discovery.mdns': 'ETCD_AGENT_DISCOVERY_MDNS',
    'peerApi.port': 'ETCD_AGENT_PEER_API_PORT',
    'statusApi.address': 'ETCD_AGENT_STATUS_API_ADDRESS',
    'etcd.clientPort': 'ETCD_AGENT_ETCD_CLIENT_PORT',
    'pki.caValidityDays': 'ETCD_AGENT_PKI_CA_VALIDITY_DAYS',
    'pki.certValidity': 'ETCD_AGENT_PKI_CERT_VALIDITY',
    'membership.deadAfter': 'ETCD_AGENT_MEMBERSHIP_DEAD_AFTER',
    'snapshots.interval': 'ETCD_AGENT_SNAPSHOTS_INTERVAL',
    serviceManager: 'ETCD_AGENT_SERVICE_MANAGER',
    'log.level': 'ETCD_AGENT_LOG_LEVEL',
  });
  t.equal(ENV_OVERRIDES.length, CONFIG_FIELDS.length - 1, 'every key but etcd.extraEnv');
  t.notOk('etcd.extraEnv' in table);
});

t.test('host[:port] parsing', async (t) => {
  const rows: [string, { host: string; port: number } | RegExp][] = [
    ['10.0.0.12', { host: '10.0.0.12', port: 2390 }],
    ['10.0.0.13:2391', { host: '10.0.0.13', port: 2391 }],
    ['etcd-3.example.internal', { host: 'etcd-3.example.internal', port: 2390 }],
    ['[::1]:2390', { host: '::1', port: 2390 }],
    ['[fd00::1]', { host: 'fd00::1', port: 2390 }],
    ['fd00::1', { host: 'fd00::1', port: 2390 }],
    ['', /empty/],
    [':2390', /empty host/],
    ['host:', /not a number/],
    ['host:65536', /out of range/],
    ['[::1', /closing/],
    ['[::1]x', /unexpected/],
    ['[host]:1', /not an IPv6/],
    ['a:b:c', /\[addr\]:port/],
    ['1.2.3.999', /not a valid IPv4/],
    ['bad_name', /neither/],
  ];
  for (const [input, want] of rows) {
    const got = parseHostPort(input, 2390);
    if (want instanceof RegExp) t.match('problem' in got ? got.problem : 'accepted', want, JSON.stringify(input));
    else t.same(got, want, input);
  }
});

t.test('a config holding only the environment is enough (empty file)', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const file = await writeConfig(dir, '');
  const config = await loadConfig({
    path: file,
    env: { ETCD_AGENT_CLUSTER_NAME: 'envonly', ETCD_AGENT_CLUSTER_SIZE: '1', ETCD_AGENT_CLUSTER_TOKEN: TOKEN },
    context: HOOKS,
  });
  t.equal(config.cluster.name, 'envonly');
});

t.test('a config that is not a mapping', async (t) => {
  const dir = tempDir(t, 'ea-cfg-');
  const file = await writeConfig(dir, '- a\n- b\n');
  const err = await expectInvalid(file);
  t.same(err.problems.map((p) => p.key), [file]);
  t.match(err.message, 'must be a YAML mapping');
});

t.test('a token is trimmed one way, wherever it comes from', async (t) => {
  // The blanks and newlines an editor, `echo`, `$(cat file)` or YAML padding leave around a token.
  const padded = ` \t${TOKEN} \r\n`;
  const cluster = { name: 'prod', size: 3 };
  const fromFile = (content: string): ValidateContext => ({ ...HOOKS, readTokenFile: () => ({ ok: true, content, mode: 0o600 }) });
  const sources: [string, ReturnType<typeof validateRawConfig>][] = [
    ['token file', validateRawConfig({ cluster: { ...cluster, tokenFile: '/etc/etcd-agent/token' } }, {}, fromFile(padded))],
    ['cluster.token', validateRawConfig({ cluster: { ...cluster, token: padded } }, {}, HOOKS)],
    ['environment', validateRawConfig({ cluster }, { ETCD_AGENT_CLUSTER_TOKEN: padded }, HOOKS)],
  ];
  for (const [where, r] of sources) {
    t.same(r.problems, [], `${where}: accepted`);
    t.equal(r.config?.cluster.token, TOKEN, `${where}: the token without the whitespace around it`);
  }
  // Whitespace inside is not trimmed away: still refused.
  for (const [where, r] of [
    ['token file', validateRawConfig({ cluster: { ...cluster, tokenFile: '/etc/etcd-agent/token' } }, {}, fromFile(` ${TOKEN} x\n`))],
    ['cluster.token', validateRawConfig({ cluster: { ...cluster, token: ` ${TOKEN} x\n` } }, {}, HOOKS)],
  ] as const) {
    t.match(r.problems.map((p) => p.message).join('\n'), /whitespace/, `${where}: whitespace inside is refused`);
  }
});
