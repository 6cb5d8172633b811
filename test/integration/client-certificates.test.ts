/**
 * Issue 11 #4: `etcd-agent cert issue --name app1 --out DIR` on a member gives
 * a certificate with which etcdctl can put and get; it carries CN=app1,
 * clientAuth only, no SANs, no CA. A token holder that is not a member cannot
 * get one; a member cannot get a server certificate for another name (nor can
 * a client certificate stand in for a member). Real agents, real etcd.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerClient, callWithClusterCertificate } from '../../src/agent/peer/client.js';
import {
  PROTOCOL_VERSION,
  clientCertificateResponseSchema,
  enrollResponseSchema,
  renewResponseSchema,
  type PeerInfo,
} from '../../src/agent/peer/protocol.js';
import {
  certificateInfo,
  clientSubjectNames,
  consumerSubjectNames,
  createCsr,
  createEphemeralIdentity,
  deriveHelloKey,
  generateKeyPair,
  generateToken,
  keyIdOfPublicKey,
  nodeSubjectNames,
} from '../../src/pki/index.js';
import { NodeSet, cliAsync, type TestNode } from '../helpers/agents.js';

const token = generateToken();
const cluster = 'clientcerts';
const set = new NodeSet({ subnet: 72, count: 3, token, cluster });
let scratch = '';
t.teardown(async () => {
  await set.cleanup(process.env.KEEP_TEST_DIRS === '1');
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const openssl = (args: string[]): string => {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
};

/** etcdctl with nothing but the variables of an env file written by `cert issue`. */
function etcdctlWithEnv(envFile: string, args: string[]): { status: number | null; out: string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^(ETCDCTL_[A-Z]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  const r = spawnSync('etcdctl', ['--dial-timeout=3s', '--command-timeout=5s', ...args], { encoding: 'utf8', env, timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

let holder: TestNode;
let other: TestNode;

t.before(async () => {
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
  const s = await set.status(set.nodes[0]!);
  holder = set.nodes.find((n) => n.name === s.caHolder?.name)!;
  other = set.nodes.find((n) => n !== holder)!;
  scratch = await mkdtemp(join(tmpdir(), 'ea-clientcerts-'));
});

t.test('issue 11 #4: cert issue gives app1 a client certificate that etcdctl can put and get with', async (t) => {
  const out = join(scratch, 'app1');
  const r = await cliAsync(['cert', 'issue', '--name', 'app1', '--out', out, '--config', other.configPath]);
  t.equal(r.status, 0, `cert issue on ${other.name} (not the CA holder): ${r.stderr}`);
  t.match(r.stdout, /--etcd-servers=https:\/\/127\.0\.72\.\d+:2379,/, 'it prints the kube-apiserver flags');
  t.match(r.stdout, /--etcd-cafile=.*ca\.crt --etcd-certfile=.*app1\.crt --etcd-keyfile=.*app1\.key/);

  t.equal(statSync(join(out, 'app1.key')).mode & 0o777, 0o600, 'app1.key is 0600');
  const crt = join(out, 'app1.crt');
  t.match(openssl(['x509', '-noout', '-subject', '-in', crt]), /subject=CN = app1\s*$/m, 'CN=app1 and nothing else in the subject');
  t.match(openssl(['x509', '-noout', '-ext', 'extendedKeyUsage', '-in', crt]), /^\s+TLS Web Client Authentication\s*$/m, 'clientAuth only');
  t.notMatch(openssl(['x509', '-noout', '-ext', 'extendedKeyUsage', '-in', crt]), /Server/);
  t.match(openssl(['x509', '-noout', '-ext', 'basicConstraints', '-in', crt]), /CA:FALSE/, 'not a CA');
  t.notMatch(openssl(['x509', '-noout', '-text', '-in', crt]), /Subject Alternative Name/, 'no SANs');
  t.match(openssl(['verify', '-CAfile', join(out, 'ca.crt'), crt]), /: OK/, 'chains to the cluster CA');
  t.equal(readFileSync(join(out, 'ca.crt'), 'utf8'), readFileSync(set.pki(other, 'ca.crt'), 'utf8'), 'ca.crt is the cluster CA');

  const put = etcdctlWithEnv(join(out, 'app1.env'), ['put', 'app1-key', 'written-by-app1']);
  t.equal(put.status, 0, `etcdctl put with app1.env: ${put.out}`);
  const get = etcdctlWithEnv(join(out, 'app1.env'), ['get', 'app1-key', '--print-value-only']);
  t.equal(get.out.trim(), 'written-by-app1', 'etcdctl get with app1.env reads it back');
  const health = etcdctlWithEnv(join(out, 'app1.env'), ['endpoint', 'health']);
  t.equal((health.out.match(/is healthy/g) ?? []).length, 3, 'the env file names every member');

  // Renewal of a consumer certificate: the same command again keeps the key and replaces the certificate.
  const keyBefore = readFileSync(join(out, 'app1.key'), 'utf8');
  const serialBefore = certificateInfo(readFileSync(crt, 'utf8')).serialNumber;
  const again = await cliAsync(['cert', 'issue', '--name', 'app1', '--out', out, '--validity', '5m', '--config', holder.configPath]);
  t.equal(again.status, 0, `cert issue again, on the holder: ${again.stderr}`);
  t.match(again.stdout, /\(kept\)/);
  t.equal(readFileSync(join(out, 'app1.key'), 'utf8'), keyBefore, 'the key is kept');
  const renewed = certificateInfo(readFileSync(crt, 'utf8'));
  t.not(renewed.serialNumber, serialBefore, 'a new certificate');
  const left = renewed.notAfter.getTime() - Date.now();
  t.ok(left > 4 * 60_000 && left <= 5 * 60_000, `--validity 5m gives 5 minutes (${left} ms left)`);
  t.equal(etcdctlWithEnv(join(out, 'app1.env'), ['get', 'app1-key', '--print-value-only']).out.trim(), 'written-by-app1', 'the renewed certificate works');
});

t.test('cert issue refuses unsafe names, member names and hosts that are not members', async (t) => {
  for (const bad of ['../etc', '.hidden', 'a b', 'x'.repeat(65), 'app1/x']) {
    const r = await cliAsync(['cert', 'issue', '--name', bad, '--out', join(scratch, 'bad'), '--config', other.configPath]);
    t.equal(r.status, 2, `--name ${JSON.stringify(bad)}: usage error`);
    t.match(r.stderr, /cannot be used/);
  }
  const member = await cliAsync(['cert', 'issue', '--name', holder.name, '--out', join(scratch, 'm'), '--config', other.configPath]);
  t.not(member.status, 0, 'a member\'s name is refused');
  t.match(member.stderr, /name of a cluster member/);

  const outsider = await set.addNode(9, set.nodes.slice(0, 3), token);
  const r = await cliAsync(['cert', 'issue', '--name', 'app2', '--out', join(scratch, 'app2'), '--config', outsider.configPath]);
  t.equal(r.status, 1, 'a host without a cluster certificate');
  t.match(r.stderr, /no usable cluster certificate.*run `etcd-agent cert issue` as root on a member/);
});

t.test('a token holder that is not a member gets no client certificate', async (t) => {
  const key = await generateKeyPair();
  const tls = await createEphemeralIdentity('outsider', key.privateKeyPem);
  const info: PeerInfo = {
    protocol: PROTOCOL_VERSION,
    clusterName: cluster,
    nodeId: keyIdOfPublicKey(key.publicKeyPem),
    name: 'outsider',
    address: '127.0.72.99',
    peerApiPort: 2390,
    etcdPeerPort: 2380,
    etcdClientPort: 2379,
    version: 'test',
    stage: 'fresh',
  };
  const outsider = new PeerClient({
    clusterName: cluster,
    helloKey: deriveHelloKey(token, cluster),
    tls: () => ({ keyPem: tls.keyPem, certPem: tls.certPem }),
    selfInfo: () => info,
  });
  const endpoint = { key: `${holder.address}:2390`, address: holder.address, port: 2390 };
  await outsider.hello(endpoint);
  const csr = createCsr(key, consumerSubjectNames('app3'));
  const refusal = await outsider
    .call(endpoint, 'POST', '/v1/client-certificate', { name: 'app3', csr, validitySeconds: 3600 }, clientCertificateResponseSchema)
    .then(() => 'signed', (e: unknown) => e as Error & { peerCode?: string });
  t.not(refusal, 'signed', 'not signed');
  t.equal((refusal as { peerCode?: string }).peerCode, 'EA_PEER_FORBIDDEN');
  t.match((refusal as Error).message, /only to members/);

  // Nor can it renew its way into a node certificate.
  const renew = await outsider
    .call(endpoint, 'POST', '/v1/renew', { nodeCsr: createCsr(key, nodeSubjectNames('outsider', ['127.0.72.99'])), clientCsr: createCsr(key, clientSubjectNames('outsider')) }, renewResponseSchema)
    .then(() => 'signed', (e: unknown) => (e as { peerCode?: string }).peerCode);
  t.equal(renew, 'EA_PEER_FORBIDDEN', 'renewal refused: no nodes/ record, not a member');
  const s = await set.status(holder);
  t.ok(s.refusals.some((r) => /outsider/.test(r.from) && /only to members/.test(r.reason)), 'the holder lists the refusal');
});

t.test('a member cannot get a server certificate for another name', async (t) => {
  const victim = set.nodes.find((n) => n !== holder && n !== other)!;
  const asOther = {
    keyPem: readFileSync(set.pki(other, 'server.key'), 'utf8'),
    certPem: readFileSync(set.pki(other, 'server.crt'), 'utf8'),
    caPem: readFileSync(set.pki(other, 'ca.crt'), 'utf8'),
  };
  const endpoint = { key: `${holder.address}:2390`, address: holder.address, port: 2390 };
  const ownKey = { privateKeyPem: asOther.keyPem, publicKeyPem: '' };
  const clientKey = { privateKeyPem: readFileSync(set.pki(other, 'etcdctl.key'), 'utf8'), publicKeyPem: '' };
  const attempts: [string, string, object, RegExp][] = [
    ['renew for the victim\'s name and address', '/v1/renew', { nodeCsr: createCsr(ownKey, nodeSubjectNames(victim.name, [victim.address])), clientCsr: createCsr(clientKey, clientSubjectNames(victim.name)) }, /common name "n\d" is not the requester's name/],
    ['renew for its own name with the victim\'s address', '/v1/renew', { nodeCsr: createCsr(ownKey, nodeSubjectNames(other.name, [other.address, victim.address])), clientCsr: createCsr(clientKey, clientSubjectNames(other.name)) }, /asks for IP address "127\.0\.72\.\d+", which is neither/],
    ['enroll for the victim\'s name', '/v1/enroll', { nodeCsr: createCsr(ownKey, nodeSubjectNames(victim.name, [victim.address])), clientCsr: createCsr(clientKey, clientSubjectNames(victim.name)) }, /common name|not the requester/],
  ];
  for (const [what, path, body, reason] of attempts) {
    const err = await callWithClusterCertificate(endpoint, path, body, asOther, path === '/v1/enroll' ? enrollResponseSchema : renewResponseSchema).then(
      () => undefined,
      (e: unknown) => e as Error & { peerCode?: string },
    );
    t.ok(err, `${what}: refused`);
    t.equal(err?.peerCode, 'EA_PKI_CSR_REJECTED', `${what}: by the signing policy`);
    t.match(err?.message ?? '', reason, `${what}: the reason names the problem`);
  }

  // A consumer's client certificate (CN=app1) does not stand for a member, whatever its name.
  const app1 = {
    keyPem: readFileSync(join(scratch, 'app1', 'app1.key'), 'utf8'),
    certPem: readFileSync(join(scratch, 'app1', 'app1.crt'), 'utf8'),
    caPem: asOther.caPem,
  };
  const app1Key = { privateKeyPem: app1.keyPem, publicKeyPem: '' };
  for (const path of ['/v1/renew', '/v1/client-certificate']) {
    const body = path === '/v1/renew'
      ? { nodeCsr: createCsr(app1Key, nodeSubjectNames('app1', ['127.0.72.98'])), clientCsr: createCsr(app1Key, clientSubjectNames('app1')) }
      : { name: 'app4', csr: createCsr(app1Key, consumerSubjectNames('app4')), validitySeconds: 3600 };
    const err = await callWithClusterCertificate(endpoint, path, body, app1, path === '/v1/renew' ? renewResponseSchema : clientCertificateResponseSchema).then(
      () => undefined,
      (e: unknown) => e as Error & { peerCode?: string },
    );
    t.equal(err?.peerCode, 'EA_PEER_FORBIDDEN', `${path} with a client certificate: refused`);
    t.match(err?.message ?? '', /not a node certificate/);
  }
  t.equal(readFileSync(set.pki(victim, 'server.crt'), 'utf8').length > 0, true);
});
