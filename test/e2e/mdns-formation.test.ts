/**
 * mDNS only, no seeds: 3 and then 5 fresh hosts (network namespaces on one
 * bridge, real multicast) form one TLS etcd cluster. Every host's /status
 * lists all members healthy and `etcdctl endpoint health --cluster` is
 * healthy from every host with that host's own certificates.
 */
import t, { type Test } from 'tap';
import { generateToken } from '../../src/pki/index.js';
import { TestBed, skipUnlessRoot } from '../helpers/netns.js';
import { NetnsAgents } from '../helpers/netns-agents.js';
import { waitCaHolderNamed } from '../helpers/wait.js';

t.setTimeout(240_000);

async function formCluster(t: Test, size: number): Promise<void> {
  const bed = await TestBed.create({ hosts: size });
  const agents = new NetnsAgents(bed);
  t.teardown(async () => {
    await bed.destroy();
    await agents.cleanup();
  });
  const hosts = bed.hosts.map((h) => h.index);
  const token = generateToken();
  for (const i of hosts) await agents.init(i, { cluster: `mdns${size}`, size, token });
  const started = Date.now();
  for (const i of hosts) agents.start(i);
  const statuses = await agents.waitFormed(hosts, 90_000);
  t.comment(`${size} hosts: formed and ready ${Date.now() - started} ms after start (mDNS only)`);

  const names = bed.hosts.map((h) => h.hostname).sort();
  for (const [k, s] of statuses.entries()) {
    const h = bed.host(hosts[k]!);
    t.equal(s.node.name, h.hostname, `${h.hostname}: node name is the host's own hostname`);
    t.equal(s.node.advertiseAddress, h.address, `${h.hostname}: advertise address auto-detected on ${h.iface}`);
    t.same(s.members.map((m) => m.name).sort(), names, `${h.hostname}: /status lists all ${size} members`);
    t.ok(s.members.every((m) => m.healthy), `${h.hostname}: all members healthy`);
    t.ok(s.peers.some((p) => p.sources.includes('mdns')), `${h.hostname}: peers were found by mDNS`);
    t.notOk(s.peers.some((p) => p.sources.includes('seed')), `${h.hostname}: no seeds involved`);
    t.match(s.discovery.sources.join(), new RegExp(`mdns on ${h.iface} \\(${h.address.replace(/\./g, '\\.')}\\)`), `${h.hostname}: /status says where mDNS runs`);
  }
  t.equal(new Set(statuses.map((s) => s.cluster.id)).size, 1, 'one cluster id');
  const named = await waitCaHolderNamed(() => agents.statuses(hosts));
  t.equal(new Set(named.map((s) => s.caHolder?.nodeId)).size, 1, 'one CA holder');
  t.equal(new Set(hosts.map((i) => agents.caFingerprint(i))).size, 1, 'one CA');

  const checks = await Promise.all(hosts.map((i) => agents.etcdctl(i, ['endpoint', 'health', '--cluster'])));
  for (const [k, r] of checks.entries()) {
    const h = bed.host(hosts[k]!);
    t.equal(r.code, 0, `${h.hostname}: etcdctl endpoint health --cluster exits 0 ${r.stderr}`);
    t.equal((`${r.stdout}${r.stderr}`.match(/is healthy/g) ?? []).length, size, `${h.hostname}: ${size} endpoints healthy over TLS`);
  }
  const anonymous = await agents.etcdctl(hosts[0]!, ['get', 'x'], false);
  t.not(anonymous.code, 0, 'a client without a certificate is refused');
}

if (skipUnlessRoot(t, 'mDNS formation across network-namespace hosts')) {
  t.test('3 hosts, mDNS only: one TLS cluster', (t) => formCluster(t, 3));
  t.test('5 hosts, mDNS only: one TLS cluster', (t) => formCluster(t, 5));
}
