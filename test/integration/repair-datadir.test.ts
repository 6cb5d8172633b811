/**
 * Repair of a member's etcd data against real etcd on loopback (issue 10):
 *
 * #4 One member's data dir is wiped and the member restarted: etcd is never
 *    started on the empty dir; the member is removed and re-added as a
 *    learner under the same name, then promoted; its formed marker records
 *    the new member id; same cluster id on every node.
 * Removed member: a member removed while its agent was down (as when it is
 *    replaced while partitioned) finds out, stops etcd, moves its data aside
 *    (never deleted) and rejoins with reason `removed`; same cluster id on
 *    every node.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, type TestNode } from '../helpers/agents.js';
import { asideDirs, clusterIds, dataDirOf, members } from '../helpers/cluster-checks.js';
import { waitFor } from '../helpers/wait.js';

const CLUSTER = 'rpd';
const set = new NodeSet({ subnet: 66, count: 3, token: generateToken(), cluster: CLUSTER });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));
let holderName = '';

t.before(async () => {
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 240_000);
  holderName = (await set.status(set.nodes[0]!)).caHolder?.name ?? '';
});

const formedMarker = (n: TestNode): { memberId: string; clusterId: string } =>
  JSON.parse(readFileSync(join(n.root, 'var', 'lib', 'etcd-agent', 'formed.json'), 'utf8')) as { memberId: string; clusterId: string };

async function waitReplaced(via: TestNode, name: string, oldId: string, timeoutMs: number) {
  return waitFor(`${name} a voter again under a new member id`, () => {
    const l = members(set, via);
    const m = l?.members.find((x) => x.name === name);
    if (!l || !m || m.isLearner || m.id === oldId || l.members.length !== 3 || l.members.some((x) => x.isLearner)) return undefined;
    return { list: l, member: m };
  }, { timeoutMs, intervalMs: 500, describe: () => set.describe() });
}

t.test('issue 10 #4: a wiped data dir is re-added under the same name; one cluster id', async (t) => {
  const victim = set.nodes.find((n) => n.name !== holderName)!;
  const via = set.nodes.find((n) => n !== victim)!;
  const before = members(set, via)!;
  const oldId = before.members.find((m) => m.name === victim.name)!.id;
  t.equal(set.etcdctl(via, ['put', 'before-wipe', 'kept']).status, 0);
  await set.stop(victim);
  await rm(dataDirOf(victim, CLUSTER), { recursive: true, force: true });
  set.start(victim);
  const said = await waitFor('the agent says the data dir was wiped', async () => {
    const s = await set.status(victim);
    return /wiped/.test(`${s.reason} ${s.lastError ?? ''}`) ? s : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200, describe: () => set.describe([victim]) }).catch(() => undefined);
  t.ok(said, `/status said why it rejoins${said ? `: ${said.reason}` : ''}`);
  const { list, member } = await waitReplaced(via, victim.name, oldId, 120_000);
  await set.waitFormed([victim], 60_000);
  t.not(member.id, oldId, `re-added as a new member (${oldId} → ${member.id})`);
  t.equal(formedMarker(victim).memberId, member.id, 'the formed marker records the new member id');
  t.equal(formedMarker(victim).clusterId, before.clusterId);
  const ids = clusterIds(set, set.nodes);
  t.same(Object.values(ids), [before.clusterId, before.clusterId, before.clusterId], `one cluster id on every node: ${JSON.stringify(ids)}`);
  t.equal(list.clusterId, before.clusterId);
  t.equal(set.etcdctl(victim, ['get', 'before-wipe', '--print-value-only']).stdout.trim(), 'kept', 'the data came back by replication');
  t.match(readFileSync(join(victim.root, 'etc', 'etcd', 'etcd.conf'), 'utf8'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
  const ops = (await set.status(via)).membership?.ops ?? [];
  t.ok(ops.some((o) => o.op === 'remove' && o.target === victim.name && o.result === 'ok'), 'ops: the old member removed');
  t.ok(ops.some((o) => o.op === 'add-learner' && o.target === victim.name && o.result === 'ok'), 'ops: re-added as a learner');
});

t.test('a member removed while its agent was down rejoins with reason removed; its data is moved aside; one cluster id', async (t) => {
  const victim = set.nodes.find((n) => n.name !== holderName && n !== set.nodes[0]) ?? set.nodes.find((n) => n.name !== holderName)!;
  const via = set.nodes.find((n) => n !== victim)!;
  const before = members(set, via)!;
  const oldId = before.members.find((m) => m.name === victim.name)!.id;
  await set.stop(victim);
  const removed = set.etcdctl(via, ['member', 'remove', oldId]);
  t.equal(removed.status, 0, `member ${oldId} removed by hand: ${removed.stderr}`);
  t.equal(set.etcdctl(via, ['put', 'after-removal', 'kept']).status, 0);
  set.start(victim);
  const { list, member } = await waitReplaced(via, victim.name, oldId, 150_000);
  await set.waitFormed([victim], 60_000);
  t.not(member.id, oldId, `rejoined as a new member (${oldId} → ${member.id})`);
  t.equal(formedMarker(victim).memberId, member.id, 'the formed marker records the new member id');
  const aside = asideDirs(victim, CLUSTER, 'removed');
  t.equal(aside.length, 1, `the removed member's data was moved aside: ${aside.join(', ')}`);
  t.ok(existsSync(join(aside[0] ?? '/nonexistent', 'member', 'wal')), 'kept, not deleted');
  const ids = clusterIds(set, set.nodes);
  t.same(Object.values(ids), [before.clusterId, before.clusterId, before.clusterId], `one cluster id on every node: ${JSON.stringify(ids)}`);
  t.equal(list.clusterId, before.clusterId);
  t.equal(set.etcdctl(victim, ['get', 'after-removal', '--print-value-only']).stdout.trim(), 'kept');
});
