/**
 * Expiry of peers heard over mDNS (TTL, goodbye, bounded table) and the
 * sentences /status uses to explain silence and blocked multicast. Time is
 * passed in, so nothing here waits.
 */
import t from 'tap';
import { MdnsHealth, MdnsPeerTable } from '../../src/discovery/mdns-peers.js';
import type { MdnsAdvert } from '../../src/discovery/mdns-records.js';

const peer = (n: number, address = `10.9.0.${10 + n}`): MdnsAdvert => ({
  cluster: 'prod',
  nodeId: n.toString(16).padStart(32, '0'),
  name: `h${n}`,
  port: 2390,
  address,
  version: '0.1.0',
});
const fqdn = (n: number) => `h${n}-0000000${n}._etcd-agent._tcp.local`;

t.test('a peer lives exactly its TTL after it was last heard', async (t) => {
  const table = new MdnsPeerTable();
  t.equal(table.upsert(fqdn(1), peer(1), 120, 1000), 'new');
  t.equal(table.upsert(fqdn(1), peer(1), 120, 60_000), 'refreshed', 'heard again: the TTL restarts');
  t.same(table.expire(60_000 + 119_999), [], 'still alive one ms before');
  const gone = table.expire(60_000 + 120_000);
  t.equal(gone.length, 1);
  t.equal(gone[0]!.advert.name, 'h1');
  t.equal(table.size, 0);
  t.same(table.endpoints(), []);
});

t.test('goodbye forgets at once; unknown goodbyes are harmless', async (t) => {
  const table = new MdnsPeerTable();
  table.upsert(fqdn(1), peer(1), 120, 0);
  table.upsert(fqdn(2), peer(2), 120, 0);
  t.equal(table.goodbye(fqdn(1))?.name, 'h1');
  t.equal(table.goodbye(fqdn(1)), undefined, 'second goodbye: nothing to forget');
  t.equal(table.goodbye('nobody._etcd-agent._tcp.local'), undefined);
  t.same(
    table.endpoints().map((e) => e.key),
    ['10.9.0.12:2390'],
  );
});

t.test('endpoints: sources mdns, one per address:port, origin names the peer', async (t) => {
  const table = new MdnsPeerTable();
  table.upsert(fqdn(1), peer(1), 120, 0);
  table.upsert('other-name._etcd-agent._tcp.local', peer(1), 120, 0);
  table.upsert(fqdn(3), peer(3, 'fd00::13'), 120, 0);
  const eps = table.endpoints();
  t.same(eps.map((e) => e.key), ['10.9.0.11:2390', '[fd00::13]:2390']);
  t.same(eps[0]!.sources, ['mdns']);
  t.match(eps[0]!.origin, /h1 \(00000000\)/);
});

t.test('a moved peer (new address under the same name) replaces the old endpoint', async (t) => {
  const table = new MdnsPeerTable();
  table.upsert(fqdn(1), peer(1), 120, 0);
  t.equal(table.upsert(fqdn(1), peer(1, '10.9.0.99'), 120, 10), 'changed');
  t.same(table.endpoints().map((e) => e.address), ['10.9.0.99']);
});

t.test('the table is bounded: a flood of forged instances cannot grow memory', async (t) => {
  const table = new MdnsPeerTable(3);
  for (let i = 1; i <= 3; i++) t.equal(table.upsert(fqdn(i), peer(i), 120, 0), 'new');
  t.equal(table.upsert(fqdn(4), peer(4), 120, 0), 'full');
  t.equal(table.upsert(fqdn(1), peer(1), 120, 5), 'refreshed', 'known peers are still refreshed when full');
  table.expire(120_000);
  t.equal(table.upsert(fqdn(4), peer(4), 120, 120_001), 'new', 'room again once entries expire');
});

const ctx = { where: 'eth1 (10.9.0.14)', iface: 'eth1', cluster: 'prod', peers: 0 };

t.test('silence: nothing heard for 30 s is said in words, naming the interface', async (t) => {
  const h = new MdnsHealth(0, 30_000);
  t.same(h.problems(29_999, ctx), [], 'not before 30 s');
  const p = h.problems(30_000, ctx);
  t.equal(p.length, 1);
  t.equal(p[0], 'no mDNS answers on eth1 (10.9.0.14) for 30 s — multicast may be blocked; configure seeds');
  h.heardForeign(40_000);
  t.notMatch(h.problems(41_000, ctx).join(), /no mDNS answers/, 'an answer resets the clock');
  t.match(h.problems(41_000, ctx).join(), /hears other hosts but no etcd-agent of cluster "prod"/, '(but it was not one of ours)');
  t.match(h.problems(70_000, ctx).join(), /no mDNS answers on eth1/, 'and silence after it counts again');
});

t.test('other hosts heard but none of our cluster: says so differently', async (t) => {
  const h = new MdnsHealth(0, 30_000);
  h.heardForeign(29_000);
  const p = h.problems(31_000, ctx);
  t.equal(p.length, 1);
  t.match(p[0], /^mDNS on eth1 \(10\.9\.0\.14\) hears other hosts but no etcd-agent of cluster "prod" for 30 s/);
  h.heardCluster(31_500);
  t.same(h.problems(32_000, ctx), []);
});

t.test('known peers: no silence complaint (peers are proof enough)', async (t) => {
  const h = new MdnsHealth(0, 30_000);
  t.same(h.problems(100_000, { ...ctx, peers: 2 }), []);
});

t.test('send failures are reported until a send succeeds, with the route hint', async (t) => {
  const h = new MdnsHealth(0, 30_000);
  h.sendFailed('send ENETUNREACH 224.0.0.251:5353', 1000);
  const p = h.problems(2000, { ...ctx, peers: 1 });
  t.equal(p.length, 1);
  t.match(p[0], /^mDNS cannot send on eth1 \(10\.9\.0\.14\): send ENETUNREACH 224\.0\.0\.251:5353 — .*ip route add 224\.0\.0\.0\/4 dev eth1.*configure seeds$/);
  h.sendSucceeded();
  t.same(h.problems(3000, { ...ctx, peers: 1 }), []);
});

t.test('group join failure is reported until anything is heard', async (t) => {
  const h = new MdnsHealth(0, 30_000);
  h.groupFailed('addMembership EADDRNOTAVAIL');
  t.match(h.problems(1000, { ...ctx, peers: 1 }).join(), /cannot join the multicast group 224\.0\.0\.251 on eth1/);
  h.heardForeign(2000);
  t.same(h.problems(3000, { ...ctx, peers: 1 }), []);
});

t.test('restart moves the silence clock (new socket, new address)', async (t) => {
  const h = new MdnsHealth(0, 30_000);
  h.restart(25_000);
  t.same(h.problems(50_000, ctx), []);
  t.equal(h.problems(55_000, ctx).length, 1);
});
