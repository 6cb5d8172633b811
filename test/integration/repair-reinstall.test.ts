/**
 * Repair against real etcd on loopback (issue 10), one cluster of three:
 *
 * #5 (part) A fresh agent claiming the name of a healthy member is refused,
 *    with a reason naming the conflict; nothing changes in the cluster.
 * #3 A host is reinstalled (agent state, certificates and etcd data wiped;
 *    same name and address): it replaces its old member at once — without
 *    waiting for membership.deadAfter (5 min here) — and the cluster id is the
 *    same on every node.
 * State dir lost (agent state only; etcd data kept): the data dir is moved
 *    aside (never deleted) and the node rejoins under its name; same cluster
 *    id on every node.
 *
 * Victims are never the CA holder: a reinstalled holder loses the CA key,
 * and CA failover is another test's subject.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, type TestNode } from '../helpers/agents.js';
import { asideDirs, clusterIds, dataDirOf, members } from '../helpers/cluster-checks.js';
import { waitFor } from '../helpers/wait.js';

const CLUSTER = 'rpr';
const token = generateToken();
const set = new NodeSet({ subnet: 65, count: 3, token, cluster: CLUSTER });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));
const initial = (): TestNode[] => set.nodes.slice(0, 3);
const DEAD_AFTER = '5m';

async function configure(n: TestNode): Promise<void> {
  await appendFile(n.configPath, `membership:\n  deadAfter: ${DEAD_AFTER}\n`);
}

let holderName = '';

t.before(async () => {
  await set.init();
  for (const n of set.nodes) await configure(n);
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 240_000);
  holderName = (await set.status(set.nodes[0]!)).caHolder?.name ?? '';
  t.ok(holderName, 'CA holder known');
});

/** Waits until `name` is a voter again under a member id other than `oldId`, with three voters and no learner. */
async function waitReplaced(via: TestNode, name: string, oldId: string, timeoutMs: number) {
  return waitFor(`${name} a voter again under a new member id`, () => {
    const l = members(set, via);
    const m = l?.members.find((x) => x.name === name);
    if (!l || !m || m.isLearner || m.id === oldId || l.members.length !== 3 || l.members.some((x) => x.isLearner)) return undefined;
    return { list: l, member: m };
  }, { timeoutMs, intervalMs: 500, describe: () => set.describe() });
}

const nonHolders = (): TestNode[] => initial().filter((n) => n.name !== holderName);

t.test('issue 10 #5: a joiner claiming a healthy member\'s name is refused, nothing changed', async (t) => {
  const n1 = initial()[0]!;
  // The name of the CA holder, which no later test takes down: a refused claim must not meet a victim of theirs.
  const n2 = initial().find((n) => n.name === holderName)!;
  const before = members(set, n1)!;
  const opsBefore = (await set.status(n1)).membership?.ops ?? [];
  const impostor = await set.addNode(4, initial(), token, [], n2.name);
  await configure(impostor);
  set.start(impostor);
  const refused = await waitFor('the impostor is told why it is refused', async () => {
    const s = await set.status(impostor);
    return /refused/.test(s.reason) ? s : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500, describe: () => set.describe([impostor]) });
  t.match(refused.reason, new RegExp(`(?=.*"${n2.name}")(?=.*healthy)`), `the reason names the conflict: ${refused.reason}`);
  t.not(refused.phase, 'formed');
  // A few more rounds: still nothing changes.
  await new Promise((r) => setTimeout(r, 5000));
  const after = members(set, n1)!;
  t.same(after.members, before.members, 'the member list is unchanged (no learner, no removal)');
  t.same((await set.status(n1)).membership?.ops ?? [], opsBefore, 'no membership operation');
  const refusals = (await Promise.all(initial().map((n) => set.status(n)))).flatMap((s) => s.refusals);
  t.ok(refusals.some((r) => r.reason.includes(`"${n2.name}"`)), 'a member records the refusal');
  await set.stop(impostor);
  // Its place in the queue lapses with its lease (30 s) once it stops asking.
  await waitFor('the impostor gone from the join queue', async () => ((await set.status(n1)).membership?.queue.length ?? 1) === 0, {
    timeoutMs: 90_000,
    intervalMs: 1000,
  });
  t.same(members(set, n1)!.members, before.members, 'still nothing changed');
  t.notOk(existsSync(join(dataDirOf(impostor, CLUSTER), 'member')), 'the impostor never ran etcd');
  const ids = clusterIds(set, initial());
  t.same(new Set(Object.values(ids)).size, 1, `one cluster id on every node: ${JSON.stringify(ids)}`);
});

t.test('issue 10 #3: a reinstalled host (same name and address) replaces its old member at once; one cluster id', async (t) => {
  const victim = nonHolders()[0]!;
  const via = initial().find((n) => n !== victim)!;
  const before = members(set, via)!;
  const oldId = before.members.find((m) => m.name === victim.name)!.id;
  t.equal(set.etcdctl(via, ['put', 'before-reinstall', 'kept']).status, 0);

  await set.stop(victim);
  // The machine is reinstalled: everything under its root is gone; init runs again with the same name and address.
  await rm(victim.root, { recursive: true, force: true });
  await set.initNode(victim, initial());
  await configure(victim);
  const started = Date.now();
  set.start(victim);
  const { list, member } = await waitReplaced(via, victim.name, oldId, 120_000);
  const elapsed = Date.now() - started;
  await set.waitFormed([victim], 60_000);
  t.comment(`reinstalled ${victim.name}: from agent start to voter ${elapsed} ms (deadAfter ${DEAD_AFTER})`);
  t.ok(elapsed < 120_000, 'replaced at once, not after deadAfter');
  t.not(member.id, oldId, `a new member (${oldId} → ${member.id})`);
  t.notOk(list.members.some((m) => m.id === oldId), 'the old member is gone');
  t.equal(list.clusterId, before.clusterId, 'same cluster');
  const ids = clusterIds(set, initial());
  t.same(Object.values(ids), [before.clusterId, before.clusterId, before.clusterId], `one cluster id on every node: ${JSON.stringify(ids)}`);
  t.equal(set.etcdctl(victim, ['get', 'before-reinstall', '--print-value-only']).stdout.trim(), 'kept', 'the data reached it by replication');
  const ops = (await set.status(via)).membership?.ops ?? [];
  t.ok(ops.some((o) => o.op === 'remove' && o.target === victim.name && o.result === 'ok' && /reinstalled|came back/.test(o.reason)), `ops: old member removed, saying why (${JSON.stringify(ops.map((o) => `${o.op} ${o.target}: ${o.reason}`))})`);
  t.ok(ops.some((o) => o.op === 'promote' && o.target === victim.name && o.result === 'ok'), 'ops: promoted');
});

t.test('state dir lost (etcd data kept): the data is moved aside, the node rejoins under its name; one cluster id', async (t) => {
  const victim = nonHolders()[1]!;
  const via = initial().find((n) => n !== victim)!;
  const before = members(set, via)!;
  const oldId = before.members.find((m) => m.name === victim.name)!.id;
  t.equal(set.etcdctl(via, ['put', 'before-state-loss', 'kept']).status, 0);
  await set.stop(victim);
  await rm(join(victim.root, 'var', 'lib', 'etcd-agent'), { recursive: true, force: true });
  t.ok(existsSync(join(dataDirOf(victim, CLUSTER), 'member')), 'the etcd data is still there');
  set.start(victim);
  const { list, member } = await waitReplaced(via, victim.name, oldId, 120_000);
  await set.waitFormed([victim], 60_000);
  t.not(member.id, oldId, `rejoined as a new member (${oldId} → ${member.id})`);
  t.equal(list.clusterId, before.clusterId);
  const aside = asideDirs(victim, CLUSTER, 'earlier-member');
  t.equal(aside.length, 1, `the old data was moved aside: ${aside.join(', ')}`);
  t.ok(existsSync(join(aside[0] ?? '/nonexistent', 'member', 'wal')), 'kept, not deleted');
  const ids = clusterIds(set, initial());
  t.same(Object.values(ids), [before.clusterId, before.clusterId, before.clusterId], `one cluster id on every node: ${JSON.stringify(ids)}`);
  t.equal(set.etcdctl(victim, ['get', 'before-state-loss', '--print-value-only']).stdout.trim(), 'kept');
});
