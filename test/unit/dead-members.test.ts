/**
 * Dead-member tracking: the unhealthy clock per member id, `dead` for voters
 * at deadAfter, a healthy look resets it, a member gone from the list is
 * forgotten; and how /status words it.
 */
import t from 'tap';
import { UnhealthyTracker, unhealthyWords } from '../../src/agent/controllers/dead-members.js';
import type { MemberStatus } from '../../src/agent/status/model.js';
import { renderStatusText } from '../../src/agent/status/render.js';

const member = (id: string, healthy: boolean, isLearner = false): MemberStatus => ({
  name: `n-${id}`,
  id,
  peerUrls: [],
  clientUrls: [`https://127.0.0.1:2379`],
  isLearner,
  healthy,
});

t.test('the unhealthy clock and the dead verdict', async (t) => {
  const tracker = new UnhealthyTracker(10_000);
  const t0 = 1_700_000_000_000;
  let got = tracker.annotate([member('a', true), member('b', false), member('c', false, true)], t0);
  t.same(got.map((m) => [m.id, m.unhealthyForMs, m.dead]), [['a', 0, false], ['b', 0, false], ['c', 0, false]], 'first unhealthy look starts the clock at 0');
  t.equal(got[1]!.unhealthySince, new Date(t0).toISOString());

  got = tracker.annotate([member('a', true), member('b', false), member('c', false, true)], t0 + 9_999);
  t.same(got.map((m) => m.dead), [false, false, false], 'not dead before deadAfter');
  got = tracker.annotate([member('a', true), member('b', false), member('c', false, true)], t0 + 10_000);
  t.same(got.map((m) => [m.id, m.unhealthyForMs, m.dead]), [['a', 0, false], ['b', 10_000, true], ['c', 10_000, false]], 'a voter is dead at deadAfter; a learner never is');
  t.equal(got[1]!.unhealthySince, new Date(t0).toISOString(), 'since stays the first unhealthy look');

  got = tracker.annotate([member('a', true), member('b', true), member('c', false, true)], t0 + 11_000);
  t.same(got.map((m) => [m.unhealthyForMs, m.dead]), [[0, false], [0, false], [11_000, false]], 'one healthy look resets the clock');
  t.equal(got[1]!.unhealthySince, undefined);
  got = tracker.annotate([member('a', true), member('b', false)], t0 + 12_000);
  t.equal(got[1]!.unhealthyForMs, 0, 'unhealthy again: a new clock');
  got = tracker.annotate([member('a', true), member('b', false), member('c', false, true)], t0 + 13_000);
  t.equal(got[2]!.unhealthyForMs, 0, 'a member gone from the list and back (same id) starts over');
});

t.test('words in /status and in `etcd-agent status`', async (t) => {
  t.equal(unhealthyWords({ healthy: true, unhealthyForMs: 0, dead: false }), '');
  t.equal(unhealthyWords({ healthy: false, unhealthyForMs: 12_000, dead: false }), 'unhealthy for 12s');
  t.equal(unhealthyWords({ healthy: false, unhealthyForMs: 65_000, dead: true }, 60_000), 'dead: unhealthy for 1m5s (dead after 1m)');

  const report = JSON.parse(JSON.stringify({
    version: '0', node: { id: 'x', name: 'n1', advertiseAddress: '127.0.0.1', advertiseAddressSource: 'config', peerApi: '', statusApi: '' },
    cluster: { name: 'c', id: 'abc', size: 3, state: 'formed' }, phase: 'formed', reason: 'ok', phaseSince: '', caHolder: null, initialMembers: [],
    discovery: { sources: [], problems: [] }, peers: [], refusals: [], leader: null, localMemberId: null, ready: true, certificates: [],
    etcdService: { manager: 'process', state: 'active', detail: '', restarts: 0, recentLog: [] }, controllers: [], lastError: null,
    members: [{ ...member('b', false), unhealthyForMs: 75_000, dead: true, reason: 'connection refused' }],
  }));
  t.match(renderStatusText(report), /no, dead: unhealthy for 1m15s \(connection refused\)/, 'the member table says dead and for how long');
});
