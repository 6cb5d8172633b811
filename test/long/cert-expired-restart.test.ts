/**
 * Issue 11 #5: an agent stopped past its certificate's expiry (the host was
 * off longer than pki.certValidity) comes back, re-enrolls with the join
 * token, and rejoins serving: same node key, same etcd member, data intact,
 * and it says so in its log and /status. Meanwhile the other two kept
 * renewing. pki.certValidity 2m, the minimum, keeps the wait short.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, type TestNode } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(10 * 60_000);

const env = { ETCD_AGENT_PKI_CERT_VALIDITY: '2m' };
const set = new NodeSet({ subnet: 73, count: 3, token: generateToken(), cluster: 'expired' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

const notAfter = (n: TestNode): Date => {
  const out = spawnSync('openssl', ['x509', '-noout', '-enddate', '-in', set.pki(n, 'server.crt')], { encoding: 'utf8' }).stdout;
  return new Date(out.trim().replace(/^notAfter=/, ''));
};

t.test('issue 11 #5: an agent stopped past its certificate\'s expiry re-enrolls and rejoins serving', async (t) => {
  await set.init();
  for (const n of set.nodes) set.start(n, { env });
  await set.waitFormed(set.nodes, 120_000);

  const holderName = (await set.status(set.nodes[0]!)).caHolder?.name;
  const victim = set.nodes.find((n) => n.name !== holderName)!;
  const others = set.nodes.filter((n) => n !== victim);
  const before = await set.status(victim);
  const keyBefore = readFileSync(set.pki(victim, 'server.key'), 'utf8');
  t.ok(set.etcdctl(victim, ['put', 'before-expiry', 'kept']).status === 0, 'a write before the stop');

  // "Host off": agent and etcd stopped, until well past the certificate's end.
  await set.stop(victim);
  set.killEtcd(victim);
  const expiry = notAfter(victim);
  const wait = expiry.getTime() + 3000 - Date.now();
  t.comment(`${victim.name} stopped; its certificate ends ${expiry.toISOString()}, waiting ${Math.round(wait / 1000)} s`);
  await new Promise((r) => setTimeout(r, Math.max(0, wait)));
  const check = spawnSync('openssl', ['x509', '-noout', '-checkend', '0', '-in', set.pki(victim, 'server.crt')], { encoding: 'utf8' });
  t.not(check.status, 0, `${victim.name}: its server certificate has expired (${check.stdout.trim()})`);
  t.ok(set.etcdctl(others[0]!, ['put', 'while-away', 'written']).status === 0, 'the other two kept serving (and renewing) meanwhile');

  const restartedAt = Date.now();
  set.start(victim, { env });
  await set.waitFormed([victim], 120_000);
  t.comment(`${victim.name}: ready ${Date.now() - restartedAt} ms after its restart`);

  const s = await set.status(victim);
  t.ok(s.certificateRenewal.reenrolled, `${victim.name}: /status says it re-enrolled`);
  t.match(s.certificateRenewal.reenrolled?.reason ?? '', /expired at .*re-enrolling with the join token/, '/status says why');
  const log = readFileSync(victim.logFile, 'utf8');
  t.match(log, /re-enrolled with the join token: new certificates written/, 'its log says so');
  t.ok(notAfter(victim).getTime() > Date.now(), 'a valid certificate now');
  t.equal(readFileSync(set.pki(victim, 'server.key'), 'utf8'), keyBefore, 'the same node key (the node id is its key id)');
  t.equal(s.localMemberId, before.localMemberId, 'the same etcd member');

  const holder = set.nodes.find((n) => n.name === holderName)!;
  t.match(readFileSync(holder.logFile, 'utf8'), new RegExp(`"peer":"${victim.name}".*"how":"re-enrolled with the join token`), 'the CA holder logged the re-enrollment');

  t.equal(set.etcdctl(victim, ['get', 'while-away', '--print-value-only']).stdout.trim(), 'written', 'it caught up with what was written while it was away');
  t.equal(set.etcdctl(victim, ['get', 'before-expiry', '--print-value-only']).stdout.trim(), 'kept', 'its data is intact');
  t.equal(set.etcdctl(victim, ['put', 'after-reenroll', 'yes']).status, 0, 'it serves writes');
  await waitFor(
    'endpoint health --cluster: 3 of 3 from every node',
    () => set.nodes.every((n) => {
      const h = set.etcdctl(n, ['endpoint', 'health', '--cluster']);
      return h.status === 0 && (`${h.stdout}${h.stderr}`.match(/is healthy/g) ?? []).length === 3;
    }),
    { timeoutMs: 30_000, intervalMs: 1000, describe: () => set.describe() },
  );
  t.pass('all three members healthy, over TLS with every node\'s certificates');
});
