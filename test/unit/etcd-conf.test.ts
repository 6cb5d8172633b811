import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderEtcdConf, type EtcdConfInput } from '../../src/etcd/conf.js';
import { renderEtcdctlEnv } from '../../src/etcd/etcdctl-env.js';
import { formatEnvValue, setEnvFileValue } from '../../src/etcd/env-file.js';
import { idToHex, hexToId } from '../../src/etcd/client.js';
import { readServiceEnvFile } from '../../src/systemd/env-file.js';
import { parseEnvFile } from '../../src/util/env-file.js';
import { isAgentError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/fixtures.js';

/** What the service backends read from an env file holding `text` (the file read included). */
async function backendReads(t: Test, text: string): Promise<Record<string, string>> {
  const file = join(tempDir(t, 'ea-envfile-'), 'etcd.conf');
  await writeFile(file, text);
  return readServiceEnvFile(file);
}

function threeMembers(): EtcdConfInput {
  return {
    name: 'n1',
    dataDir: '/var/lib/etcd/demo',
    listenClientUrls: ['https://10.0.0.11:2379', 'https://127.0.0.1:2379'],
    advertiseClientUrls: ['https://10.0.0.11:2379'],
    listenPeerUrls: ['https://10.0.0.11:2380'],
    initialAdvertisePeerUrls: ['https://10.0.0.11:2380'],
    initialCluster: [
      { name: 'n1', peerUrl: 'https://10.0.0.11:2380' },
      { name: 'n2', peerUrl: 'https://10.0.0.12:2380' },
      { name: 'n3', peerUrl: 'https://10.0.0.13:2380' },
    ],
    initialClusterToken: 'demo-3f9a1c',
    initialClusterState: 'new',
    tls: { caFile: '/etc/etcd/pki/ca.crt', certFile: '/etc/etcd/pki/server.crt', keyFile: '/etc/etcd/pki/server.key' },
  };
}

const EXPECTED_3 = `# etcd configuration, written by etcd-agent. It will be overwritten: do not edit.
# Change the agent configuration (/etc/etcd-agent/config.yaml) instead.
# Read by etcd.service through EnvironmentFile= (or by the agent's process backend).

# member
ETCD_NAME=n1
ETCD_DATA_DIR=/var/lib/etcd/demo
ETCD_LISTEN_CLIENT_URLS=https://10.0.0.11:2379,https://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.11:2379
ETCD_LISTEN_PEER_URLS=https://10.0.0.11:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.11:2380

# bootstrap (read only while the data dir is empty)
ETCD_INITIAL_CLUSTER=n1=https://10.0.0.11:2380,n2=https://10.0.0.12:2380,n3=https://10.0.0.13:2380
ETCD_INITIAL_CLUSTER_TOKEN=demo-3f9a1c
ETCD_INITIAL_CLUSTER_STATE=new

# client TLS: clients must present a certificate signed by the cluster CA
ETCD_CERT_FILE=/etc/etcd/pki/server.crt
ETCD_KEY_FILE=/etc/etcd/pki/server.key
ETCD_TRUSTED_CA_FILE=/etc/etcd/pki/ca.crt
ETCD_CLIENT_CERT_AUTH=true

# peer TLS: members authenticate each other with the same certificate
ETCD_PEER_CERT_FILE=/etc/etcd/pki/server.crt
ETCD_PEER_KEY_FILE=/etc/etcd/pki/server.key
ETCD_PEER_TRUSTED_CA_FILE=/etc/etcd/pki/ca.crt
ETCD_PEER_CLIENT_CERT_AUTH=true
`;

const EXPECTED_VARS_3: Record<string, string> = {
  ETCD_NAME: 'n1',
  ETCD_DATA_DIR: '/var/lib/etcd/demo',
  ETCD_LISTEN_CLIENT_URLS: 'https://10.0.0.11:2379,https://127.0.0.1:2379',
  ETCD_ADVERTISE_CLIENT_URLS: 'https://10.0.0.11:2379',
  ETCD_LISTEN_PEER_URLS: 'https://10.0.0.11:2380',
  ETCD_INITIAL_ADVERTISE_PEER_URLS: 'https://10.0.0.11:2380',
  ETCD_INITIAL_CLUSTER: 'n1=https://10.0.0.11:2380,n2=https://10.0.0.12:2380,n3=https://10.0.0.13:2380',
  ETCD_INITIAL_CLUSTER_TOKEN: 'demo-3f9a1c',
  ETCD_INITIAL_CLUSTER_STATE: 'new',
  ETCD_CERT_FILE: '/etc/etcd/pki/server.crt',
  ETCD_KEY_FILE: '/etc/etcd/pki/server.key',
  ETCD_TRUSTED_CA_FILE: '/etc/etcd/pki/ca.crt',
  ETCD_CLIENT_CERT_AUTH: 'true',
  ETCD_PEER_CERT_FILE: '/etc/etcd/pki/server.crt',
  ETCD_PEER_KEY_FILE: '/etc/etcd/pki/server.key',
  ETCD_PEER_TRUSTED_CA_FILE: '/etc/etcd/pki/ca.crt',
  ETCD_PEER_CLIENT_CERT_AUTH: 'true',
};

t.test('3-member conf renders exactly', async (t) => {
  t.equal(renderEtcdConf(threeMembers()), EXPECTED_3);
});

t.test('render → parse round trip (both parsers agree)', async (t) => {
  const text = renderEtcdConf(threeMembers());
  t.same(parseEnvFile(text), EXPECTED_VARS_3);
  t.same(await backendReads(t, text), EXPECTED_VARS_3, 'the process backend reads the same environment');
});

t.test('values with blanks, $, backslash and backtick are quoted and survive parsing', async (t) => {
  const input = threeMembers();
  input.dataDir = '/srv/etcd data/$HOME\\x`id`';
  input.tls = { caFile: '/etc/my pki/ca.crt', certFile: '/etc/my pki/server.crt', keyFile: '/etc/my pki/server.key' };
  input.extraEnv = { ETCD_LOG_OUTPUTS: 'stderr', ETCD_AUTO_COMPACTION_RETENTION: '1 h' };
  const text = renderEtcdConf(input);
  t.match(text, /^ETCD_DATA_DIR="\/srv\/etcd data\/\\\$HOME\\\\x\\`id\\`"$/m);
  t.match(text, /^ETCD_CERT_FILE="\/etc\/my pki\/server.crt"$/m);
  for (const vars of [parseEnvFile(text), await backendReads(t, text)]) {
    t.equal(vars.ETCD_DATA_DIR, input.dataDir);
    t.equal(vars.ETCD_PEER_TRUSTED_CA_FILE, '/etc/my pki/ca.crt');
    t.equal(vars.ETCD_AUTO_COMPACTION_RETENTION, '1 h');
  }
  t.equal(formatEnvValue('plain/value:1,2=3'), 'plain/value:1,2=3', 'safe values stay bare');
});

t.test('extraEnv is rendered after ours, sorted', async (t) => {
  const input = threeMembers();
  input.extraEnv = { ETCD_SNAPSHOT_COUNT: '10000', ETCD_AUTO_COMPACTION_MODE: 'periodic' };
  const text = renderEtcdConf(input);
  t.ok(
    text.endsWith(
      'ETCD_PEER_CLIENT_CERT_AUTH=true\n\n# extra settings from the agent configuration (etcd.extraEnv)\n' +
        'ETCD_AUTO_COMPACTION_MODE=periodic\nETCD_SNAPSHOT_COUNT=10000\n',
    ),
    'extra keys close the file, sorted',
  );
});

t.test('setEnvFileValue flips new → existing changing only that line', async (t) => {
  const before = renderEtcdConf(threeMembers());
  const after = setEnvFileValue(before, 'ETCD_INITIAL_CLUSTER_STATE', 'existing');
  const a = before.split('\n');
  const b = after.split('\n');
  t.equal(b.length, a.length);
  const changed = a.map((line, i) => (line === b[i] ? -1 : i)).filter((i) => i >= 0);
  t.same(changed.map((i) => [a[i], b[i]]), [['ETCD_INITIAL_CLUSTER_STATE=new', 'ETCD_INITIAL_CLUSTER_STATE=existing']]);
  t.equal(setEnvFileValue(after, 'ETCD_INITIAL_CLUSTER_STATE', 'existing'), after, 'idempotent');
  t.equal(parseEnvFile(after).ETCD_INITIAL_CLUSTER_STATE, 'existing');

  const crlf = 'A=1\r\nETCD_X=old\r\n# c\r\n';
  t.equal(setEnvFileValue(crlf, 'ETCD_X', 'new'), 'A=1\r\nETCD_X=new\r\n# c\r\n', 'CRLF kept');
  t.equal(setEnvFileValue('A=1', 'B', 'two words'), 'A=1\nB="two words"\n', 'appended when missing');
  t.equal(setEnvFileValue('ETCD_XY=1\nETCD_X=2\n', 'ETCD_X', '3'), 'ETCD_XY=1\nETCD_X=3\n', 'only the exact key');
  t.throws(() => setEnvFileValue(before, 'ETCD_INITIAL_CLUSTER_STATE', 'a\nETCD_NAME=evil'), { code: 'EA_ETCD_CONF_INVALID' });
});

t.test('invalid inputs throw EA_ETCD_CONF_INVALID naming the field', async (t) => {
  const cases: Array<[string, (i: EtcdConfInput) => void, RegExp]> = [
    ['newline in a value', (i) => (i.dataDir = '/var/lib/etcd\nETCD_NAME=x'), /dataDir/],
    ['newline in the token', (i) => (i.initialClusterToken = 'a\nb'), /initialClusterToken/],
    ['quote in a value', (i) => (i.tls.keyFile = '/etc/"k".key'), /tls\.keyFile/],
    ['empty name', (i) => (i.name = ''), /\bname\b/],
    ['empty member name', (i) => (i.initialCluster[1]!.name = ''), /initialCluster\[1\]\.name/],
    ['bad state', (i) => ((i as { initialClusterState: string }).initialClusterState = 'old'), /initialClusterState/],
    ['bad extraEnv key', (i) => (i.extraEnv = { ETCD_lower: 'x' }), /extraEnv\.ETCD_lower/],
    ['non-ETCD extraEnv key', (i) => (i.extraEnv = { PATH: '/tmp' }), /extraEnv\.PATH/],
    ['extraEnv overriding ETCD_NAME', (i) => (i.extraEnv = { ETCD_NAME: 'other' }), /extraEnv\.ETCD_NAME/],
    ['newline in extraEnv value', (i) => (i.extraEnv = { ETCD_DEBUG: 'true\nETCD_NAME=x' }), /extraEnv\.ETCD_DEBUG/],
    ['http URL', (i) => (i.listenClientUrls = ['http://10.0.0.11:2379']), /listenClientUrls\[0\]/],
    ['URL without port', (i) => (i.advertiseClientUrls = ['https://10.0.0.11']), /advertiseClientUrls\[0\]/],
    ['relative data dir', (i) => (i.dataDir = 'data'), /dataDir/],
    ['self missing from initialCluster', (i) => (i.name = 'n9'), /initialCluster/],
    ['advertise differs from own entry', (i) => (i.initialAdvertisePeerUrls = ['https://10.0.0.99:2380']), /initialAdvertisePeerUrls/],
    ['empty initialCluster', (i) => (i.initialCluster = []), /initialCluster/],
  ];
  for (const [what, mutate, field] of cases) {
    const input = threeMembers();
    mutate(input);
    let caught: unknown;
    try {
      renderEtcdConf(input);
    } catch (err) {
      caught = err;
    }
    t.ok(isAgentError(caught, 'EA_ETCD_CONF_INVALID'), `${what}: EA_ETCD_CONF_INVALID`);
    t.match(caught instanceof Error ? caught.message : '', field, `${what}: names the field`);
  }
});

t.test('renderEtcdctlEnv', async (t) => {
  const text = renderEtcdctlEnv({
    endpoints: ['https://10.0.0.11:2379', 'https://10.0.0.12:2379'],
    caFile: '/etc/etcd/pki/ca.crt',
    certFile: '/etc/etcd/pki/etcdctl.crt',
    keyFile: '/etc/etcd/pki/etcdctl.key',
  });
  t.equal(
    text,
    `# etcdctl settings for the local admin client, written by etcd-agent. It will be overwritten: do not edit.
# Use from a shell:
#   set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl endpoint health --cluster
ETCDCTL_API=3
ETCDCTL_ENDPOINTS=https://10.0.0.11:2379,https://10.0.0.12:2379
ETCDCTL_CACERT=/etc/etcd/pki/ca.crt
ETCDCTL_CERT=/etc/etcd/pki/etcdctl.crt
ETCDCTL_KEY=/etc/etcd/pki/etcdctl.key
`,
  );
  t.same(parseEnvFile(text), {
    ETCDCTL_API: '3',
    ETCDCTL_ENDPOINTS: 'https://10.0.0.11:2379,https://10.0.0.12:2379',
    ETCDCTL_CACERT: '/etc/etcd/pki/ca.crt',
    ETCDCTL_CERT: '/etc/etcd/pki/etcdctl.crt',
    ETCDCTL_KEY: '/etc/etcd/pki/etcdctl.key',
  });
  const rooted = renderEtcdctlEnv({
    endpoints: ['https://127.0.0.11:2379'],
    caFile: '/tmp/n 1/ca.crt',
    certFile: '/tmp/n 1/c.crt',
    keyFile: '/tmp/n 1/c.key',
    path: '/tmp/n 1/etc/etcd/etcdctl.env',
  });
  t.match(rooted, '#   set -a; . "/tmp/n 1/etc/etcd/etcdctl.env"; set +a;');
  t.equal(parseEnvFile(rooted).ETCDCTL_KEY, '/tmp/n 1/c.key');
  t.throws(() => renderEtcdctlEnv({ endpoints: [], caFile: '/a', certFile: '/b', keyFile: '/c' }), {
    code: 'EA_ETCD_CONF_INVALID',
    message: /endpoints/,
  });
  t.throws(() => renderEtcdctlEnv({ endpoints: ['https://a:1'], caFile: '/a', certFile: 'b', keyFile: '/c' }), {
    code: 'EA_ETCD_CONF_INVALID',
    message: /certFile/,
  });
});

t.test('parser follows systemd EnvironmentFile rules', async (t) => {
  const text = [
    '# comment with = sign',
    '; another comment',
    '  SPACED  =   value with trailing blanks   ',
    "SINGLE='a \"b\" $c'",
    'DOUBLE="x \\"y\\" \\$z \\n"',
    'ESC=a\\ b',
    'EMPTY=',
    'bad key=1',
    'DUP=1',
    'DUP=2',
    'LAST=no newline',
  ].join('\n');
  const expected = {
    SPACED: 'value with trailing blanks',
    SINGLE: 'a "b" $c',
    DOUBLE: 'x "y" $z \\n',
    ESC: 'a b',
    EMPTY: '',
    DUP: '2',
    LAST: 'no newline',
  };
  t.same(parseEnvFile(text), expected);
  t.same(await backendReads(t, text), expected);
});

t.test('member id hex conversion', async (t) => {
  t.equal(idToHex('10276657743932975437'), '8e9e05c52164694d', 'etcd default member id');
  t.equal(idToHex('0'), '0');
  t.equal(idToHex('255'), 'ff', 'no leading zeros');
  t.equal(hexToId('8e9e05c52164694d'), '10276657743932975437');
});
