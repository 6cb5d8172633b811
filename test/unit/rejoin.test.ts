/**
 * The re-add flow of a formed member (wiped data dir, removed member) over a
 * real state dir and data dir, with the cluster faked: etcd stopped first,
 * old data moved aside (never deleted), asks until admitted, refuses an
 * admission into another cluster, applies the admission once, and resumes
 * from what it persisted after a restart.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, type RejoinReason } from '../../src/agent/bootstrap/state-store.js';
import { Rejoin } from '../../src/agent/join/rejoin.js';
import type { JoinAdmission, JoinResponse } from '../../src/agent/peer/protocol.js';
import { silentLogger } from '../../src/util/log.js';

const admission = (clusterId = 'c1', memberId = 'beef'): JoinAdmission => ({
  memberId,
  clusterId,
  initialCluster: [{ name: 'n1', peerUrl: 'https://127.0.65.11:2380' }, { name: 'n2', peerUrl: 'https://127.0.65.12:2380' }],
  clientUrls: ['https://127.0.65.12:2379'],
});
const answer = (state: JoinResponse['state'], adm: JoinAdmission | null = null): JoinResponse => ({ state, reason: `${state} because`, admission: adm, caHolder: null });

async function setup(t: Test, answers: JoinResponse[]) {
  const root = await mkdtemp(join(tmpdir(), 'ea-rejoin-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const store = new StateStore(join(root, 'state'));
  await store.init();
  const dataDir = join(root, 'data');
  const calls: string[] = [];
  const applied: { admission: JoinAdmission; reason: RejoinReason }[] = [];
  const phases: string[] = [];
  const make = () =>
    new Rejoin({
      logger: silentLogger(),
      store,
      stopEtcd: async () => {
        calls.push('stop');
      },
      dataDir,
      formed: () => ({ clusterId: 'c1', memberId: 'a1' }),
      ask: async (reason) => {
        calls.push(`ask ${reason}`);
        const next = answers.shift();
        if (!next) throw new Error('no member answered');
        return { answer: next, from: 'n2' };
      },
      apply: async (adm, reason) => {
        applied.push({ admission: adm, reason });
      },
      say: (phase, reason) => phases.push(`${phase}: ${reason}`),
      wake: () => undefined,
    });
  return { root, store, dataDir, calls, applied, phases, make };
}

t.test('removed: etcd stopped, data aside, spare until admitted, then applied', async (t) => {
  const s = await setup(t, [answer('spare'), answer('admitted', admission())]);
  await mkdir(join(s.dataDir, 'member', 'wal'), { recursive: true });
  await writeFile(join(s.dataDir, 'member', 'wal', '0.wal'), 'old raft log');
  const rejoin = s.make();
  await rejoin.begin('removed', 'n2 lists no member a1');
  t.same(s.calls, ['stop'], 'etcd stopped first');
  const record = await s.store.rejoin();
  t.match(record, { reason: 'removed', oldMemberId: 'a1' }, 'the reason is persisted');
  t.ok(record?.aside && existsSync(join(record.aside, 'member', 'wal', '0.wal')), 'the old data is kept aside');
  t.equal(await readFile(join(record!.aside!, 'member', 'wal', '0.wal'), 'utf8'), 'old raft log');
  t.notOk(existsSync(s.dataDir), 'the data dir is free for the new member');

  await rejoin.step();
  t.match(s.phases.at(-1), /^spare: .*spare \(answer of n2\)/, 'waits as a spare, saying why');
  t.same(s.applied, []);
  await rejoin.step();
  t.same(s.calls, ['stop', 'ask removed', 'ask removed']);
  t.same(s.applied, [{ admission: admission(), reason: 'removed' }], 'the admission is applied');
  t.notOk(rejoin.active());
  t.equal(await s.store.rejoin(), undefined, 'rejoin.json is gone');
  await rejoin.step();
  t.equal(s.applied.length, 1, 'applied once');
});

t.test('an admission into another cluster is refused and nothing is applied', async (t) => {
  const s = await setup(t, [answer('admitted', admission('c9'))]);
  const rejoin = s.make();
  await rejoin.begin('wiped', 'data dir empty');
  await t.rejects(rejoin.step(), { code: 'EA_JOIN_OTHER_CLUSTER', message: /cluster c9, but this node is a member of cluster c1/ });
  t.same(s.applied, []);
  t.ok(rejoin.active(), 'still asking');
});

t.test('a restart after the admission was persisted applies it without asking again', async (t) => {
  const s = await setup(t, [answer('admitted', admission())]);
  const first = s.make();
  await first.begin('wiped', 'data dir empty');
  // Crash between persisting the admission and applying it: apply throws once.
  const record = await s.store.rejoin();
  await s.store.saveRejoin({ ...record!, admission: admission(), admittedBy: 'n2' });
  const second = s.make();
  await second.load();
  t.ok(second.active(), 'resumed from rejoin.json');
  await second.step();
  t.same(s.calls, ['stop'], 'not asked again');
  t.same(s.applied, [{ admission: admission(), reason: 'wiped' }]);
});

t.test('no member answers: the step fails and is retried', async (t) => {
  const s = await setup(t, []);
  const rejoin = s.make();
  await rejoin.begin('wiped', 'data dir empty');
  await t.rejects(rejoin.step(), /no member answered/);
  t.ok(rejoin.active());
});
