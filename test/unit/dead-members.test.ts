/**
 * Dead members in /status: a voter unhealthy for at least deadAfter (by the
 * UnhealthySince clock) is dead, a learner never is, a healthy look resets
 * the clock; and how `etcd-agent status` words it.
 */
import t from 'tap';
import { isDead, unhealthyWords } from '../../src/agent/controllers/dead-members.js';
import { UnhealthySince } from '../../src/agent/controllers/unhealthy-since.js';
import { validateRawConfig } from '../../src/agent/config/index.js';
import { NO_RENEWAL, type MemberStatus } from '../../src/agent/status/model.js';
import { buildStatusReport } from '../../src/agent/status/report.js';
import { renderStatusText } from '../../src/agent/status/render.js';
import { generateToken } from '../../src/pki/token.js';

const member = (id: string, healthy: boolean, isLearner = false): MemberStatus => ({
  name: `n-${id}`,
  id,
  peerUrls: [],
  clientUrls: ['https://127.0.65.10:2379'],
  isLearner,
  healthy,
});

const result = validateRawConfig(
  { cluster: { name: 'c', size: 3, token: generateToken() }, node: { name: 'n-a', advertiseAddress: '127.0.65.10' }, membership: { deadAfter: '10s' }, paths: { root: '/tmp/ea-dead-unit' } },
  {},
  { source: '/tmp/ea-dead-unit/config.yaml', hostname: 'n-a', networkInterfaces: {} },
);
if (!result.config) throw new Error(JSON.stringify(result.problems));
const config = result.config;

function report(members: MemberStatus[], since: UnhealthySince, now: number) {
  return buildStatusReport({
    version: '0',
    config,
    nodeId: 'x',
    phase: 'formed',
    reason: 'ok',
    phaseSince: '',
    lastError: null,
    caRole: undefined,
    snapshots: { enabled: false, intervalMs: 0, dir: '/var/lib/etcd-agent/snapshots', keep: 24, nextDueAt: null, inProgress: null, lastSuccess: null, lastFailure: null, successes: 0, failures: 0, consecutiveFailures: 0, files: [] },
    view: undefined,
    formed: { clusterId: 'c1', memberId: 'a' },
    observation: { clusterId: 'c1', localMemberId: 'a', leaderId: 'a', members, complete: true, localHealthy: true, reason: '' },
    observationFresh: true,
    discovery: { sources: [], problems: [] },
    peers: [],
    refusals: [],
    certificates: [],
    certificateRenewal: NO_RENEWAL,
    controllers: [],
    service: { kind: 'process', status: { state: 'active', restarts: 0, detail: '', recentLog: [] } },
    unhealthySince: since.map(),
    now,
  });
}

t.test('dead in /status: voters at deadAfter, never learners, reset by a healthy look', async (t) => {
  const since = new UnhealthySince();
  const t0 = 1_700_000_000_000;
  const members = [member('a', true), member('b', false), member('c', false, true)];
  since.update(members, t0);
  let r = report(members, since, t0 + 9_999);
  t.same(r.members.map((m) => [m.id, m.unhealthyForMs, m.dead]), [['a', undefined, undefined], ['b', 9_999, false], ['c', 9_999, false]], 'not dead before deadAfter');
  r = report(members, since, t0 + 10_000);
  t.same(r.members.map((m) => [m.id, m.dead]), [['a', undefined], ['b', true], ['c', false]], 'a voter is dead at deadAfter; a learner never is');
  t.equal(r.members[1]!.unhealthySince, new Date(t0).toISOString(), 'since the first unhealthy look');
  t.match(renderStatusText(r), /n-b\s+b\s+\S+\s+no, dead: unhealthy for 10s/, 'the member table says dead and for how long');

  since.update([member('a', true), member('b', true), member('c', false, true)], t0 + 11_000);
  since.update(members, t0 + 12_000);
  r = report(members, since, t0 + 13_000);
  t.same(r.members[1]!.unhealthyForMs, 1_000, 'a healthy look in between started a new clock');
  t.equal(r.members[1]!.dead, false);
});

t.test('pure pieces', async (t) => {
  t.equal(isDead(member('b', false), 10_000, 10_000), true);
  t.equal(isDead(member('b', false), 9_999, 10_000), false);
  t.equal(isDead(member('b', false, true), 99_999, 10_000), false, 'learners never');
  t.equal(isDead(member('b', true), 99_999, 10_000), false, 'healthy never');
  t.equal(isDead(member('b', false), undefined, 10_000), false, 'no clock: not dead');
  t.equal(unhealthyWords({ healthy: true, unhealthyForMs: 0, dead: false }), '');
  t.equal(unhealthyWords({ healthy: false, unhealthyForMs: 12_000, dead: false }), 'unhealthy for 12s');
  t.equal(unhealthyWords({ healthy: false, unhealthyForMs: 65_000, dead: true }, 60_000), 'dead: unhealthy for 1m5s (dead after 1m)');
});
