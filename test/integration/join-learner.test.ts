/**
 * Joining against real etcd and real agents on loopback (127.0.61.0/24):
 * issue 10 #5 (in part) — a second learner while one is pending waits, a
 * resize below quorum is refused, a wrong token is refused, each with a clear
 * reason and nothing changed — and #6 — a learner whose etcd never starts is
 * removed after the learner timeout, and a later join succeeds.
 *
 * The stuck learner is a real agent whose `etcd.binary` is a script that
 * sleeps: the agent is admitted, enrolls, "starts etcd", and its learner never
 * comes up. The members run with membership.learnerTimeout 30s.
 */
import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, cliAsync, type TestNode } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(420_000);
const token = generateToken();
const set = new NodeSet({ subnet: 61, count: 3, token, cluster: 'learners' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

const LEARNER_TIMEOUT = '30s';
const memberEnv = { ETCD_AGENT_MEMBERSHIP_LEARNER_TIMEOUT: LEARNER_TIMEOUT };
const fakeEtcd = join(tmpdir(), `ea-fake-etcd-${process.pid}.sh`);
t.teardown(() => rm(fakeEtcd, { force: true }));

interface Member {
  id: string;
  name: string;
  learner: boolean;
}
/** `etcdctl member list` (simple format: ids in hex; the JSON format prints them as numbers too large for a double). */
function members(n: TestNode): Member[] {
  const r = set.etcdctl(n, ['member', 'list']);
  if (r.status !== 0) throw new Error(`member list: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((line) => {
    const [id = '', , name = '', , , learner = ''] = line.split(', ');
    return { id, name, learner: learner.trim() === 'true' };
  });
}
function sizeRecord(n: TestNode): string {
  return set.etcdctl(n, ['get', '/etcd-agent/learners/size', '--print-value-only']).stdout.trim();
}
function keys(n: TestNode, prefix: string): string[] {
  return set.etcdctl(n, ['get', '--prefix', '--keys-only', prefix]).stdout.split('\n').filter(Boolean);
}

t.before(async () => {
  writeFileSync(fakeEtcd, '#!/bin/sh\n# an etcd that never starts: the learner it was added for never comes up\nexec sleep 3600\n');
  chmodSync(fakeEtcd, 0o755);
  await set.init();
  for (const n of set.nodes) set.start(n, { env: memberEnv });
  await set.waitFormed(set.nodes, 90_000);
});

t.test('issue 10 #5 and #6: refusals change nothing; one learner at a time; a learner that never starts is removed and a later join succeeds', async (t) => {
  const [n1] = set.nodes as [TestNode];
  await waitFor('the wanted size recorded at formation', () => sizeRecord(n1) === '3', { timeoutMs: 20_000 });
  const ops = (): { op: string; target: string; reason: string; result: string }[] =>
    JSON.parse(set.etcdctl(n1, ['get', '/etcd-agent/learners/ops', '--print-value-only']).stdout || '[]') as { op: string; target: string; reason: string; result: string }[];

  // #5: a resize below quorum is refused with the rule, and nothing changes.
  const down = await cliAsync(['cluster', 'resize', '1', '--config', n1.configPath]);
  t.equal(down.status, 1, 'resize 1 exits 1');
  t.match(down.stderr, /cluster resize refused: a wanted size of 1 is below the quorum of the 3 healthy voters \(2\); the smallest size allowed now is 2/);
  t.match(down.stderr, /nothing was changed/);
  const zero = await cliAsync(['cluster', 'resize', '0', '--config', n1.configPath]);
  t.equal(zero.status, 2, 'resize 0 is a usage error');
  t.match(zero.stderr, /at least 1/);
  t.equal(sizeRecord(n1), '3', 'the wanted size is unchanged');
  t.same(ops(), [], 'no operation recorded');

  // #5: an agent with a wrong token is refused and changes nothing.
  const listBefore = members(n1);
  const n6 = await set.addNode(6, set.nodes.slice(0, 3), generateToken());
  set.start(n6);
  await waitFor(
    'every member to refuse the wrong token',
    async () => {
      for (const n of set.nodes.slice(0, 3)) {
        const s = await set.status(n);
        if (!s.refusals.some((r) => r.from.startsWith(n6.address) && /wrong join token/.test(r.reason))) return false;
      }
      return true;
    },
    { timeoutMs: 60_000, describe: () => set.describe([n6]) },
  );
  const s6 = await set.status(n6);
  t.equal(s6.phase, 'discovering', `the wrong-token agent gets nowhere (${s6.phase})`);
  t.ok(s6.peers.length === 3 && s6.peers.every((p) => !p.authenticated && /token proof does not match/.test(p.error ?? '')), 'it authenticated no member, and is told why');
  t.same(members(n1), listBefore, 'member list unchanged');
  t.same(keys(n1, '/etcd-agent/learners/joins/'), [], 'no join record');
  t.same(keys(n1, '/etcd-agent/learners/admitted/'), [], 'no admission');
  await set.stop(n6);

  // n4 (whose "etcd" never starts) and then n5 wait as spares: the cluster is full.
  const spare = async (n: TestNode): Promise<void> => {
    const s = await waitFor(`${n.name} to wait as a spare`, async () => {
      const st = await set.status(n);
      return st.phase === 'spare' ? st : undefined;
    }, { timeoutMs: 90_000, describe: () => set.describe([n1, n]) });
    t.match(s.reason, /cluster has 3 of 3 voters; this node replaces the first member that fails/, `${n.name}: ${s.reason}`);
  };
  const n4 = await set.addNode(4, set.nodes.slice(0, 3), token, ['--etcd-binary', fakeEtcd]);
  set.start(n4);
  await spare(n4);
  const n5 = await set.addNode(5, set.nodes.slice(0, 3), token);
  set.start(n5);
  await spare(n5);

  const grow = await cliAsync(['cluster', 'resize', '5', '--config', n1.configPath]);
  t.equal(grow.status, 0, `resize 5: ${grow.stderr}`);
  t.match(grow.stdout, /wanted size: 3 -> 5/);
  const stuck = await waitFor(
    'n4 (first in the queue) to be added as a learner that never starts',
    async () => {
      const s = await set.status(n4);
      const learners = members(n1).filter((m) => m.learner);
      return s.phase === 'starting-etcd' && /etcd started as learner/.test(s.reason) && learners.length === 1 ? learners[0] : undefined;
    },
    { timeoutMs: 60_000, describe: () => set.describe([n1, n4]) },
  );
  t.equal(stuck.name, '', 'the learner is unstarted (no name in the member list)');

  // #5: the second joiner waits while the first learner is pending.
  const queued = await waitFor(
    'n5 to be queued behind the pending learner',
    async () => {
      const s = await set.status(n5);
      return s.phase === 'joining' && /one learner at a time/.test(s.reason) ? s : undefined;
    },
    { timeoutMs: 60_000, describe: () => set.describe([n1, n5]) },
  );
  t.match(queued.reason, /queued, position 1: one learner at a time: n4 is being added \(cluster has 3 of 5 voters\)/, `n5 is told why it waits: ${queued.reason}`);
  for (let i = 0; i < 4; i++) {
    const list = members(n1);
    t.equal(list.filter((m) => m.learner).length, 1, 'still exactly one learner, n4');
    t.equal(list.length, 4, 'no second learner added');
    await new Promise((r) => setTimeout(r, 1000));
  }
  const answer = (await set.status(n1)).membership?.queue.find((q) => q.name === 'n5');
  t.equal(answer?.state, 'queued', '/status on a member lists n5 as queued');
  t.match(answer?.answer ?? '', /one learner at a time/);
  // n4 goes away for good: its learner will never start.
  await set.stop(n4);

  // #6: after the learner timeout the stuck learner is removed, with its reason in the ops log.
  const removed = await waitFor(
    'the stuck learner to be removed after the learner timeout',
    () => (members(n1).some((m) => m.id === stuck.id) ? undefined : ops().find((o) => o.op === 'remove' && o.target === 'n4')),
    { timeoutMs: 90_000, describe: () => set.describe([n1, n5]) },
  );
  t.match(removed.reason, new RegExp(`learner n4 has not started within \\d+s; the learner timeout is ${LEARNER_TIMEOUT}`), removed.reason);
  t.equal(removed.result, 'ok');

  // ...and a later join succeeds: n5 is added as a learner and promoted.
  await waitFor(
    'n5 to become a voter',
    () => members(n1).some((m) => m.name === 'n5' && !m.learner),
    { timeoutMs: 90_000, describe: () => set.describe([n1, n5]) },
  );
  await set.waitFormed([n5], 30_000);
  const final = members(n1);
  t.equal(final.filter((m) => m.learner).length, 0, 'no learner left');
  t.same(final.map((m) => m.name).sort(), ['n1', 'n2', 'n3', 'n5'], 'n5 is a voter; n4 is gone');
  const ids = await Promise.all([...set.nodes.slice(0, 3), n5].map(async (n) => (await set.status(n)).cluster.id));
  t.equal(new Set(ids).size, 1, `one cluster id everywhere (${ids.join(', ')})`);
  const log = ops().map((o) => `${o.op} ${o.target} ${o.result}`);
  t.same(log, ['resize 5 ok', 'add-learner n4 ok', 'remove n4 ok', 'add-learner n5 ok', 'promote n5 ok'], 'the ops log says what happened, in order');
});
