/**
 * The trial harness's file and secret checks (trials/invariants.ts) on fake
 * node roots: they pass on intact files and catch each kind of damage a
 * trial could leave (truncated certificate, half-written state, open key,
 * a second CA, the token in a log or in /status), so a clean trial means
 * something.
 */
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, generateToken } from '../../src/pki/index.js';
import { confFile, pkiDir, stateDir, type TrialNode } from '../../trials/access.js';
import { filesParse, keysPrivate, oneCa, tokenHidden } from '../../trials/invariants.js';
import { tempDir } from '../helpers/fixtures.js';

const CONF = 'ETCD_NAME=n1\nETCD_DATA_DIR=/d\nETCD_LISTEN_CLIENT_URLS=https://a:2379\nETCD_INITIAL_CLUSTER=n1=https://a:2380\nETCD_INITIAL_CLUSTER_STATE=new\nETCD_PEER_TRUSTED_CA_FILE=/p/ca.crt\n';

async function fakeNodes(dir: string, statusBody = '{}'): Promise<TrialNode[]> {
  const ca = await createCa('t', 10);
  return ['n1', 'n2'].map((name) => {
    const root = join(dir, name);
    mkdirSync(pkiDir(root), { recursive: true });
    mkdirSync(stateDir(root), { recursive: true });
    writeFileSync(join(pkiDir(root), 'ca.crt'), ca.certPem);
    writeFileSync(join(pkiDir(root), 'server.key'), ca.keyPem, { mode: 0o600 });
    writeFileSync(join(stateDir(root), 'identity.json'), '{"a":1}\n');
    writeFileSync(confFile(root), CONF);
    writeFileSync(join(dir, `${name}.log`), 'started\n');
    return {
      name,
      root,
      logFiles: () => [join(dir, `${name}.log`)],
      get: () => Promise.resolve({ status: 200, body: statusBody }),
      etcdctl: () => Promise.resolve({ code: 1, stdout: '', stderr: 'no etcd here' }),
      pids: () => [],
    };
  });
}

t.test('intact files pass every file check', async (t) => {
  const nodes = await fakeNodes(tempDir(t, 'trials-inv-'));
  for (const r of [await filesParse(nodes), await keysPrivate(nodes), await oneCa(nodes), await tokenHidden(nodes, generateToken())]) t.ok(r.ok, `${r.name}: ${r.detail}`);
});

t.test('each kind of damage is a named violation', async (t) => {
  const damages: [string, (n: TrialNode) => void, (nodes: TrialNode[]) => Promise<{ ok: boolean; name: string; detail: string }>][] = [
    ['truncated certificate', (n) => writeFileSync(join(pkiDir(n.root), 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB'), filesParse],
    ['half-written state file', (n) => writeFileSync(join(stateDir(n.root), 'identity.json'), '{"a":'), filesParse],
    ['etcd.conf cut short', (n) => writeFileSync(confFile(n.root), 'ETCD_NAME=n1\nETCD_DATA_DIR=/d\n'), filesParse],
    ['empty etcd.conf', (n) => writeFileSync(confFile(n.root), ''), filesParse],
    ['key readable by others', (n) => chmodSync(join(pkiDir(n.root), 'server.key'), 0o644), keysPrivate],
  ];
  for (const [what, damage, check] of damages) {
    const nodes = await fakeNodes(tempDir(t, 'trials-inv-'));
    damage(nodes[1]!);
    const r = await check(nodes);
    t.notOk(r.ok, `${what}: ${r.name} reports it (${r.detail})`);
  }
  const twoCas = await fakeNodes(tempDir(t, 'trials-inv-'));
  writeFileSync(join(pkiDir(twoCas[1]!.root), 'ca.crt'), (await createCa('other', 10)).certPem);
  t.notOk((await oneCa(twoCas)).ok, 'a second CA certificate is a one-ca violation');

  const token = generateToken();
  const logged = await fakeNodes(tempDir(t, 'trials-inv-'));
  writeFileSync(join(logged[0]!.root, '..', 'n1.log'), `joining with ${token}\n`);
  t.notOk((await tokenHidden(logged, token)).ok, 'the token in a log is a token-hidden violation');
  const inStatus = await fakeNodes(tempDir(t, 'trials-inv-'), JSON.stringify({ token }));
  t.notOk((await tokenHidden(inStatus, token)).ok, 'the token in /status is a token-hidden violation');
});
