/**
 * Issue 11, CA failover, against real etcd and real agents: the CA key is
 * escrowed in etcd under the join token (#3); the CA role is held through
 * etcd's election, so when the holder's host dies for good another member
 * holds it within 15 s, every survivor names it, and it signs with the same
 * CA certificate (#2); a former holder that comes back signs nothing; a
 * holder whose lease is gone signs nothing even before it notices.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  clientSubjectNames,
  createCsr,
  fingerprintOf,
  generateToken,
  keyMatchesCertificate,
  nodeSubjectNames,
  openEscrowRecord,
  parseEscrowRecord,
  verifyIssuedBy,
} from '../../src/pki/index.js';
import { clusterKeys } from '../../src/etcd/keys.js';
import type { StatusReport } from '../../src/agent/status/model.js';
import { NodeSet, cliAsync, type TestNode } from '../helpers/agents.js';
import { peerHttps, type PeerAnswer } from '../helpers/peer-https.js';
import { waitFor } from '../helpers/wait.js';

const token = generateToken();
const cluster = 'cafail';
const keys = clusterKeys(cluster);
const set = new NodeSet({ subnet: 81, count: 3, token, cluster });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const stateFile = (n: TestNode, f: string): string => join(n.root, 'var', 'lib', 'etcd-agent', f);
const byName = (name: string): TestNode => set.nodes.find((n) => n.name === name)!;

/** Waits until every node in `nodes` names the same elected holder (not `notName`), and returns it. */
async function electedHolder(nodes: TestNode[], timeoutMs: number, notName?: string): Promise<{ holder: TestNode; statuses: StatusReport[] }> {
  return waitFor(
    `every one of ${nodes.map((n) => n.name).join(', ')} to name the same elected CA holder${notName ? ` other than ${notName}` : ''}`,
    async () => {
      const statuses = await Promise.all(nodes.map((n) => set.status(n)));
      const names = new Set(statuses.map((s) => (s.caHolder?.source === 'election' ? s.caHolder.name : undefined)));
      const [name] = [...names];
      if (names.size !== 1 || name === undefined || name === notName) return false;
      const holder = byName(name);
      const own = await set.status(holder).catch(() => undefined);
      if (nodes.includes(holder) && own?.caRole?.state !== 'holder') return false;
      return { holder, statuses };
    },
    { timeoutMs, intervalMs: 100, describe: () => set.describe(nodes) },
  );
}

/** A member asks `target` to sign new certificates for itself, over mTLS with its own cluster certificate (POST `path`). */
async function enrollAsMember(target: TestNode, member: TestNode, path: '/v1/enroll' | '/v1/renew' = '/v1/enroll'): Promise<PeerAnswer> {
  const keyPem = readFileSync(set.pki(member, 'server.key'), 'utf8');
  const certPem = readFileSync(set.pki(member, 'server.crt'), 'utf8');
  const key = { privateKeyPem: keyPem, publicKeyPem: '' };
  const body = JSON.stringify({
    nodeCsr: createCsr(key, nodeSubjectNames(member.name, [member.address])),
    clientCsr: createCsr(key, clientSubjectNames(member.name)),
  });
  return peerHttps(target.address, 'POST', path, body, { keyPem, certPem, fingerprint256: fingerprintOf(certPem) });
}

let firstHolder: TestNode;
let caHash = '';

t.before(async () => {
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
  caHash = sha(set.pki(set.nodes[0]!, 'ca.crt'));
});

t.test('after formation the member that made the CA holds the role, and the others stand by on the escrow', async (t) => {
  const { holder, statuses } = await electedHolder(set.nodes, 20_000);
  firstHolder = holder;
  t.ok(existsSync(stateFile(holder, 'ca.key')), 'the holder is the member with the CA key in its state dir (the lowest id)');
  t.equal(statuses[0]!.initialMembers[0]!.name, holder.name, 'the lowest id of the initial members');
  await waitFor(
    'both other members standing by with the key from the escrow',
    async () => {
      for (const n of set.nodes.filter((x) => x !== holder)) {
        const s = await set.status(n);
        if (s.caRole?.state !== 'standby' || s.caRole.keySource !== 'escrow') return false;
      }
      return true;
    },
    { timeoutMs: 20_000, describe: () => set.describe() },
  );
  for (const n of set.nodes) {
    const s = await set.status(n);
    t.match(s.caHolder, { name: holder.name, address: holder.address, peerApiPort: 2390, self: n === holder, source: 'election' }, `${n.name}: /status names the holder with its address`);
    t.ok(s.caHolder?.since, `${n.name}: and since when`);
    t.equal(existsSync(stateFile(n, 'ca.key')), n === holder, `${n.name}: the CA key is on disk only where it was made`);
    t.equal(sha(set.pki(n, 'ca.crt')), caHash, `${n.name}: one CA`);
  }
  const text = set.etcdctl(holder, ['get', '--prefix', `${keys.caElection}/`, '--print-value-only']);
  t.match(text.stdout, new RegExp(`"name":"${holder.name}"`), 'etcdctl sees the election with the holder\'s Candidate as value');
  const r = await enrollAsMember(byName(set.nodes.find((n) => n !== holder)!.name), set.nodes.find((n) => n !== holder)!);
  t.equal(r.status, 403, 'a member that does not hold the role refuses to sign');
  t.match(r.body.message ?? '', new RegExp(`not the CA holder; ${holder.name} is`));
});

t.test('issue 11 #3: the escrowed blob in etcd is not the key, and opens only with the right token', async (t) => {
  const got = set.etcdctl(firstHolder, ['get', keys.caEscrow, '--print-value-only']);
  t.equal(got.status, 0, got.stderr);
  const text = got.stdout.trim();
  const caKeyPem = readFileSync(stateFile(firstHolder, 'ca.key'), 'utf8');
  t.notMatch(text, /PRIVATE KEY/, 'no PEM key in the value');
  const keyLines = caKeyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
  t.notOk(keyLines.some((l) => text.includes(l)), 'no line of the CA key in the value');
  const record = parseEscrowRecord(text);
  t.notOk(Buffer.from(record.sealedKey, 'base64').toString('latin1').includes(keyLines[1]!), 'nor in the sealed bytes');
  t.equal(Buffer.from(record.sealedKey, 'base64')[0], 1, 'the sealed key starts with the version byte');
  t.equal(record.caCertificate.trim(), readFileSync(set.pki(firstHolder, 'ca.crt'), 'utf8').trim(), 'the CA certificate beside it is the cluster CA');

  const opened = openEscrowRecord(record, token, cluster);
  t.equal(opened.keyPem, caKeyPem, 'the right token opens it: it is the CA key');
  t.ok(keyMatchesCertificate(opened.keyPem, readFileSync(set.pki(firstHolder, 'ca.crt'), 'utf8')), 'the key of ca.crt');
  t.throws(() => openEscrowRecord(record, generateToken(), cluster), { code: 'EA_CA_ESCROW_SEALED' }, 'another token does not open it');
  t.throws(() => openEscrowRecord(record, token, 'othercluster'), { code: 'EA_CA_ESCROW_SEALED' }, 'nor the same token for another cluster');

  for (const n of set.nodes) {
    const s = JSON.stringify(await set.status(n));
    t.notMatch(s, /PRIVATE KEY/, `${n.name}: no key in /status`);
    t.notOk(s.includes(record.sealedKey.slice(0, 40)), `${n.name}: no escrow in /status`);
    const log = readFileSync(n.logFile, 'utf8');
    t.notMatch(log, /PRIVATE KEY/, `${n.name}: no key in the log`);
    t.notOk(log.includes(token), `${n.name}: no token in the log`);
    t.notOk(log.includes(record.sealedKey.slice(0, 40)), `${n.name}: no escrow in the log`);
  }
});

/** kill -9 of a node's agent and its etcd, as when its host dies; returns the new holder every survivor names, and how long that took. */
async function killHolder(victim: TestNode): Promise<{ holder: TestNode; ms: number }> {
  const survivors = set.nodes.filter((n) => n !== victim && n.proc?.exitCode === null && n.proc.signalCode === null);
  const killedAt = Date.now();
  victim.proc?.kill('SIGKILL');
  set.killEtcd(victim);
  const { holder } = await electedHolder(survivors, 15_000, victim.name);
  return { holder, ms: Date.now() - killedAt };
}

let secondHolder: TestNode;

t.test('a former holder that comes back signs nothing: the role stays where it moved', async (t) => {
  const former = firstHolder;
  const { holder, ms } = await killHolder(former);
  t.comment(`CA failover: ${ms} ms from kill -9 of ${former.name} (agent and etcd) to every survivor naming ${holder.name}`);
  secondHolder = holder;
  t.match((await set.status(holder)).caRole, { state: 'holder', keySource: 'escrow', timesElected: 1 }, `${holder.name} holds the role with the key from the escrow`);
  t.notOk(existsSync(stateFile(holder, 'ca.key')), 'and writes no CA key to disk');

  set.start(former);
  await set.waitFormed([former], 60_000);
  await waitFor(
    `${former.name} to see ${holder.name} as holder and stand by`,
    async () => {
      const s = await set.status(former);
      return s.caHolder?.source === 'election' && s.caHolder.name === holder.name && s.caRole?.state === 'standby' && s.caRole.keySource === 'local';
    },
    { timeoutMs: 20_000, describe: () => set.describe([former]) },
  );
  const member = set.nodes.find((n) => n !== former && n !== holder)!;
  const refused = await enrollAsMember(former, member);
  t.equal(refused.status, 403, 'the former holder refuses to sign');
  t.equal(refused.body.code, 'EA_PEER_FORBIDDEN');
  t.match(refused.body.message ?? '', new RegExp(`not the CA holder; ${holder.name} is`), 'and names the holder');
  for (const n of set.nodes) t.equal((await set.status(n)).caHolder?.name, holder.name, `${n.name} names ${holder.name}`);
  const signed = await enrollAsMember(holder, member);
  t.equal(signed.status, 200, `${holder.name} signs`);
});

t.test('issue 11 #2: kill the CA holder\'s host for good: within 15 s another member holds the role, every survivor names it, same CA, a new agent enrolls and joins', async (t) => {
  const victim = secondHolder;
  const survivors = set.nodes.filter((n) => n !== victim);
  const { holder, ms } = await killHolder(victim);
  t.comment(`CA failover: ${ms} ms from kill -9 of ${victim.name} (agent and etcd) to every survivor naming ${holder.name}`);
  t.ok(ms <= 15_000, `another member holds the role within 15 s (${ms} ms)`);
  for (const n of survivors) {
    const s = await set.status(n);
    t.match(s.caHolder, { name: holder.name, address: holder.address, peerApiPort: 2390, source: 'election' }, `${n.name}: /status names ${holder.name}`);
  }
  t.equal((await set.status(holder)).caRole?.state, 'holder');

  // The new holder signs: a member's own certificates, re-issued under the same CA (the CA certificate never changes).
  const member = survivors.find((n) => n !== holder)!;
  const answer = await enrollAsMember(holder, member);
  t.equal(answer.status, 200, `the new holder signs: ${answer.text.slice(0, 300)}`);
  const caPem = readFileSync(set.pki(member, 'ca.crt'), 'utf8');
  t.equal(String(answer.body.caCertificate).trim(), caPem.trim(), 'it answers with the same CA certificate');
  t.ok(verifyIssuedBy(String(answer.body.certificate), caPem), 'the new certificate verifies against the unchanged ca.crt');
  // Renewals go on: the renewal route, with its own admission rule (etcd's member list, read by the new holder).
  const renewed = await enrollAsMember(holder, member, '/v1/renew');
  t.equal(renewed.status, 200, `the new holder renews a member's certificates: ${renewed.text.slice(0, 300)}`);
  t.ok(verifyIssuedBy(String(renewed.body.certificate), caPem), 'the renewed certificate verifies against the unchanged ca.crt');
  for (const n of survivors) t.equal(sha(set.pki(n, 'ca.crt')), caHash, `${n.name}: ca.crt unchanged`);
  t.equal(set.etcdctl(holder, ['put', 'after-failover', 'yes']).status, 0, 'the cluster still takes writes');

  // The host is gone for good: its member is removed (what an operator, or membership's repair, does), and a new agent joins.
  const deadId = (await set.status(holder)).members.find((m) => m.name === victim.name)?.id;
  t.ok(deadId, `${victim.name}'s member id`);
  const removed = set.etcdctl(holder, ['member', 'remove', deadId!]);
  t.equal(removed.status, 0, `member remove: ${removed.stderr}`);
  const joiner = await set.addNode(4, survivors, token);
  set.start(joiner);
  await waitFor(
    `${joiner.name} to join, enrolled by ${holder.name}, promoted and ready`,
    async () => {
      const s = await set.status(joiner);
      if (s.phase !== 'formed' || !s.ready) return false;
      return s.members.some((m) => m.name === joiner.name && !m.isLearner);
    },
    { timeoutMs: 120_000, intervalMs: 500, describe: () => set.describe([joiner, holder]) },
  );
  t.equal(sha(set.pki(joiner, 'ca.crt')), caHash, 'it trusts the same CA');
  t.ok(verifyIssuedBy(readFileSync(set.pki(joiner, 'server.crt'), 'utf8'), caPem), 'its certificate is issued by it');
  t.match(readFileSync(holder.logFile, 'utf8'), new RegExp(`"component":"ca","peer":"${joiner.name}"[^\\n]*"msg":"signed node and client certificates"`), `${holder.name} signed it`);
  t.notOk(existsSync(stateFile(joiner, 'ca.key')), 'no CA key on the joiner');
  t.equal(set.etcdctl(joiner, ['get', 'after-failover', '--print-value-only']).stdout.trim(), 'yes', 'it serves the cluster\'s data');
  await waitFor(
    `${joiner.name} to stand by for the CA role (a member that joined later can hold it too)`,
    async () => {
      const s = await set.status(joiner);
      return s.caRole?.state === 'standby' && s.caRole.keySource === 'escrow' && s.caHolder?.name === holder.name ? s : undefined;
    },
    { timeoutMs: 20_000, describe: () => set.describe([joiner]) },
  );
  const text = await cliAsync(['status', '--address', `${joiner.address}:${joiner.statusPort}`]);
  t.match(text.stdout, new RegExp(`^CA holder: +${holder.name} at ${holder.address.replace(/\./g, '\\.')}:2390, since `, 'm'), '`etcd-agent status` names the holder');
  t.match(text.stdout, /^CA role: +standby: /m);
});

t.test('a holder whose lease is gone signs nothing, even before it notices; the role moves on', async (t) => {
  const live = set.nodes.filter((n) => n.proc?.exitCode === null && n.proc.signalCode === null);
  const { holder } = await electedHolder(live, 20_000);
  const list = set.etcdctl(holder, ['get', '--prefix', `${keys.caElection}/`, '-w', 'json']);
  // Lease ids are 64-bit: JSON.parse would round them, so they are read as text.
  const leases = [...list.stdout.matchAll(/"lease":(\d+)/g)].map((m) => m[1]!);
  const kvs = (JSON.parse(list.stdout) as { kvs: { key: string; value: string; create_revision: number }[] }).kvs.map((kv, i) => ({ ...kv, lease: leases[i]! }));
  const leading = kvs.sort((a, b) => a.create_revision - b.create_revision)[0]!;
  t.match(Buffer.from(leading.value, 'base64').toString(), new RegExp(`"name":"${holder.name}"`), 'the oldest candidate is the holder');
  // Revoke the holder's lease behind its back; ask it to sign at once, before its keepalive can notice.
  const revoked = set.etcdctl(holder, ['lease', 'revoke', BigInt(leading.lease).toString(16)]);
  t.equal(revoked.status, 0, revoked.stderr);
  const member = live.find((n) => n !== holder)!;
  const answer = await enrollAsMember(holder, member);
  t.equal(answer.status, 403, `it refuses: ${answer.text.slice(0, 200)}`);
  const { holder: next } = await electedHolder(live, 15_000, holder.name);
  t.not(next.name, holder.name, `the role moved on to ${next.name}`);
  await waitFor(`${holder.name} to stand by again`, async () => (await set.status(holder)).caRole?.state === 'standby', { timeoutMs: 15_000 });

  // An agent that stops hands the role over at once (it revokes its own lease) instead of after the TTL.
  const stoppedAt = Date.now();
  await set.stop(next);
  const { holder: after } = await electedHolder(live.filter((n) => n !== next), 15_000, next.name);
  const ms = Date.now() - stoppedAt;
  t.ok(ms < 5_000, `a stopping holder hands over at once: ${after.name} named by all after ${ms} ms`);
});
