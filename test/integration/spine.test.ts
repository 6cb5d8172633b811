/**
 * The bootstrap spine against real etcd: three agents started together form
 * one TLS cluster; it flips to `existing`; a killed node comes back as the same
 * member; an agent with the wrong token is refused and changes nothing.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, httpGet, type TestNode } from '../helpers/agents.js';
import { waitCaHolderNamed, waitFor } from '../helpers/wait.js';

const set = new NodeSet({ subnet: 41, count: 3, token: generateToken(), cluster: 'spine' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

const etcConf = (n: TestNode): string => readFileSync(join(n.root, 'etc', 'etcd', 'etcd.conf'), 'utf8');

t.before(async () => {
  await set.init();
  const started = Date.now();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
  t.comment(`formation: ${Date.now() - started} ms from start of 3 agents to all formed and ready`);
});

t.test('one TLS cluster: healthy, replicated, refuses clients without a certificate', async (t) => {
  const [n1, , n3] = set.nodes as [TestNode, TestNode, TestNode];
  const health = set.etcdctl(n1, ['endpoint', 'health', '--cluster']);
  t.equal(health.status, 0, `endpoint health --cluster: ${health.stderr}`);
  t.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3, 'all three members healthy');

  const put = set.etcdctl(n1, ['put', 'spine-key', 'written-through-n1']);
  t.equal(put.status, 0, put.stderr);
  const get = set.etcdctl(n3, ['get', 'spine-key', '--print-value-only']);
  t.equal(get.stdout.trim(), 'written-through-n1', 'read back through n3');

  const anonymous = set.etcdctl(n1, ['get', 'spine-key'], false);
  t.not(anonymous.status, 0, 'a client without a certificate is refused');
  t.notMatch(anonymous.stdout, /written-through-n1/);
});

t.test('after formation: existing, ready, one CA holder and one cluster id', async (t) => {
  const statuses = await Promise.all(set.nodes.map((n) => set.status(n)));
  for (const [i, n] of set.nodes.entries()) {
    t.match(etcConf(n), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m, `${n.name}: etcd.conf says existing`);
    const ready = await httpGet(n.address, n.statusPort, '/readyz');
    t.equal(ready.status, 200, `${n.name}: /readyz 200`);
    const s = statuses[i]!;
    t.equal(s.cluster.state, 'formed');
    t.equal(s.members.length, 3);
    t.ok(s.members.every((m) => m.healthy), `${n.name} sees all members healthy`);
  }
  const named = await waitCaHolderNamed(() => Promise.all(set.nodes.map((n) => set.status(n))));
  const holders = new Set(named.map((s) => s.caHolder?.nodeId));
  const ids = new Set(statuses.map((s) => s.cluster.id));
  t.equal(holders.size, 1, 'same CA holder everywhere');
  t.equal(ids.size, 1, 'same cluster id everywhere');
  t.ok(statuses[0]!.cluster.id, 'cluster id known');
  const holder = named.find((s) => s.caHolder?.self);
  t.ok(holder, 'exactly the holder reports itself as holder');
  for (const n of set.nodes) {
    const caKey = join(n.root, 'var', 'lib', 'etcd-agent', 'ca.key');
    const isHolder = (await set.status(n)).caHolder?.self === true;
    t.equal(existsSync(caKey), isHolder, `${n.name}: CA key present only on the holder`);
    if (isHolder) t.equal(statSync(caKey).mode & 0o777, 0o600, 'CA key is 0600');
  }
  const metrics = await httpGet(set.nodes[0]!.address, 2391, '/metrics');
  t.match(metrics.body, /^etcd_agent_ready 1$/m);
  t.match(metrics.body, /^etcd_agent_phase\{phase="formed"\} 1$/m);
});

t.test('issued certificates verify against the CA with exactly the expected names and usages', async (t) => {
  for (const n of set.nodes) {
    const ca = set.pki(n, 'ca.crt');
    for (const cert of ['server.crt', 'etcdctl.crt']) {
      const v = spawnSync('openssl', ['verify', '-CAfile', ca, set.pki(n, cert)], { encoding: 'utf8' });
      t.equal(v.status, 0, `${n.name} ${cert}: ${v.stdout}${v.stderr}`);
    }
    const ext = (cert: string, name: string): string =>
      spawnSync('openssl', ['x509', '-noout', '-ext', name, '-in', set.pki(n, cert)], { encoding: 'utf8' }).stdout;
    const sans = ext('server.crt', 'subjectAltName')
      .split('\n')[1]!
      .split(',')
      .map((s) => s.trim())
      .sort();
    t.same(sans, [`DNS:${n.name}`, 'DNS:localhost', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:127.0.0.1', `IP Address:${n.address}`].sort(), `${n.name}: SANs`);
    t.match(ext('server.crt', 'extendedKeyUsage'), /TLS Web Server Authentication, TLS Web Client Authentication/);
    t.match(ext('server.crt', 'basicConstraints'), /CA:FALSE/);
    t.match(ext('etcdctl.crt', 'extendedKeyUsage'), /^\s+TLS Web Client Authentication\s*$/m);
    for (const key of ['server.key', 'etcdctl.key']) {
      t.equal(statSync(set.pki(n, key)).mode & 0o777, 0o600, `${n.name} ${key} is 0600`);
    }
  }
});

/** Hash of every file the agent manages for a node (etcd's own data and logs excluded). */
function managedFiles(n: TestNode): Record<string, string> {
  const out: Record<string, string> = {};
  const files = [
    ['etc', 'etcd', 'etcd.conf'],
    ['etc', 'etcd', 'etcdctl.env'],
    ...['ca.crt', 'server.crt', 'server.key', 'etcdctl.crt', 'etcdctl.key'].map((f) => ['etc', 'etcd', 'pki', f]),
    ...['identity.json', 'view.json', 'enrollment.json', 'formed.json', 'holder.json', 'ca.key', 'ca.crt'].map((f) => ['var', 'lib', 'etcd-agent', f]),
  ];
  for (const parts of files) {
    const p = join(n.root, ...parts);
    out[parts.join('/')] = existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'absent';
  }
  return out;
}

t.test('a fourth agent with the right cluster name but a wrong token is refused and changes nothing', async (t) => {
  const before = set.nodes.map(managedFiles);
  const intruder = await set.addNode(4, set.nodes.slice(0, 3), generateToken());
  set.start(intruder);
  const members = set.nodes.slice(0, 3);
  await waitFor(
    'every member to record the refusal of the intruder',
    async () => {
      for (const n of members) {
        const s = await set.status(n);
        if (!s.refusals.some((r) => r.from.startsWith(intruder.address) && /wrong join token/.test(r.reason))) return false;
      }
      return true;
    },
    { timeoutMs: 30_000, describe: () => set.describe() },
  );
  const s4 = await set.status(intruder);
  t.equal(s4.phase, 'discovering', 'the intruder gets nowhere');
  t.match(s4.reason, /1 of 3 agents authenticated/);
  t.ok(s4.peers.length === 3 && s4.peers.every((p) => !p.authenticated && /token proof does not match/.test(p.error ?? '')), 'it is told why');
  t.same(set.nodes.slice(0, 3).map(managedFiles), before, 'no managed file changed on any member');
  const list = set.etcdctl(members[0]!, ['member', 'list']);
  t.equal(list.stdout.trim().split('\n').length, 3, 'still three members');
  await set.stop(intruder);
});

t.test('kill -9 of an agent and its etcd: it comes back as the same member with the same certificate', async (t) => {
  const n2 = set.nodes[1]!;
  const before = await set.status(n2);
  const files = managedFiles(n2);
  t.ok(before.localMemberId);
  n2.proc?.kill('SIGKILL');
  set.killEtcd(n2);
  await waitFor('n2 etcd gone', async () => {
    const list = set.etcdctl(set.nodes[0]!, ['endpoint', 'health', '--cluster']);
    return list.status !== 0;
  }, { timeoutMs: 20_000 });

  set.start(n2);
  await set.waitFormed([n2], 60_000);
  const after = await set.status(n2);
  t.equal(after.localMemberId, before.localMemberId, 'same member id');
  t.equal(after.cluster.id, before.cluster.id, 'same cluster id');
  t.same(managedFiles(n2), files, 'certificates, keys, config and state are unchanged: nothing re-bootstrapped');
  const get = set.etcdctl(n2, ['get', 'spine-key', '--print-value-only']);
  t.equal(get.stdout.trim(), 'written-through-n1', 'data intact');
  const list = set.etcdctl(set.nodes[0]!, ['member', 'list']);
  t.equal(list.stdout.trim().split('\n').length, 3, 'still three members');
});
