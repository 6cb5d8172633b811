/**
 * members.json is written when the member list changes, and only then — also
 * across a restart of the agent (a reboot must leave the state dir as it was;
 * the systemd reboot test compares its digest).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateStore } from '../../src/agent/bootstrap/state-store.js';
import type { ClusterObservation } from '../../src/agent/controllers/cluster-health.js';
import { KnownMembersRecorder } from '../../src/agent/restore/known-members.js';
import { tempDir } from '../helpers/fixtures.js';

const member = (n: number) => ({ name: `n${n}`, id: `${n}a`, peerUrls: [`https://10.0.0.${n}:2380`], clientUrls: [`https://10.0.0.${n}:2379`], isLearner: false, healthy: true });
const seen = (count: number): ClusterObservation => ({
  clusterId: 'c1',
  localMemberId: '1a',
  leaderId: '1a',
  members: Array.from({ length: count }, (_, i) => member(i + 1)),
  complete: true,
  localHealthy: true,
  reason: '',
});

t.test('written on change only, and not again after a restart', async (t) => {
  const dir = tempDir(t, 'known-members-');
  const store = new StateStore(dir);
  await store.init();
  const file = join(dir, 'members.json');

  await new KnownMembersRecorder(store).record(seen(3));
  const first = readFileSync(file, 'utf8');
  t.match(JSON.parse(first), { clusterId: 'c1', members: [{ name: 'n1' }, { name: 'n2' }, { name: 'n3' }] });

  const restarted = new KnownMembersRecorder(store);
  await new Promise((r) => setTimeout(r, 5)); // a rewrite would carry a later seenAt
  await restarted.record(seen(3));
  t.equal(readFileSync(file, 'utf8'), first, 'same members after a restart: the file is not rewritten');

  await restarted.record({ ...seen(3), members: [...seen(3).members.map((m) => ({ ...m, healthy: false }))] });
  t.equal(readFileSync(file, 'utf8'), first, 'health is not part of the record');

  await restarted.record(seen(4));
  t.match(JSON.parse(readFileSync(file, 'utf8')), { members: [{}, {}, {}, { name: 'n4' }] }, 'a new member: rewritten');
  await restarted.record({ ...seen(4), members: [] });
  t.equal(JSON.parse(readFileSync(file, 'utf8')).members.length, 4, 'an observation without members changes nothing');
});
