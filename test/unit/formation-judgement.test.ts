/**
 * When a forming member calls the cluster formed (judgeCluster, pure): one
 * row per rule. An initial member that started and then died does not hold
 * the survivors in `forming` for ever; one that never started does.
 */
import t from 'tap';
import { judgeCluster } from '../../src/agent/controllers/cluster-health.js';
import type { View } from '../../src/agent/peer/protocol.js';
import type { MemberStatus } from '../../src/agent/status/model.js';

const member = (n: number, extra: Partial<MemberStatus> = {}): MemberStatus => ({
  name: `n${n}`,
  id: `m${n}`,
  peerUrls: [`https://127.0.0.${n}:2380`],
  clientUrls: [`https://127.0.0.${n}:2379`],
  isLearner: false,
  healthy: true,
  ...extra,
});
const dead = (n: number) => member(n, { healthy: false, reason: 'connection refused' });
const unstarted = (n: number) => member(n, { clientUrls: [], healthy: false, reason: 'not started yet' });
const view = (...ns: number[]): View => ns.map((n) => ({ nodeId: `${n}`.repeat(32).slice(0, 32), name: `n${n}`, address: `127.0.0.${n}`, peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379 }));

const rows: { rule: string; members: MemberStatus[]; leader?: string | null; expected?: View; complete: boolean; says: RegExp }[] = [
  { rule: 'all started and healthy, a leader', members: [member(1), member(2), member(3)], expected: view(1, 2, 3), complete: true, says: /^all 3 members healthy$/ },
  { rule: 'no leader', members: [member(1), member(2), member(3)], leader: null, expected: view(1, 2, 3), complete: false, says: /no leader elected yet/ },
  { rule: 'an initial member has not started', members: [member(1), member(2), unstarted(3)], expected: view(1, 2, 3), complete: false, says: /^n3 has not started yet$/ },
  { rule: 'an initial member is not in the list', members: [member(1), member(2)], expected: view(1, 2, 3), complete: false, says: /n3 is not a member/ },
  { rule: 'an initial member started, then died: formed, and it is named', members: [member(1), member(2), dead(3)], expected: view(1, 2, 3), complete: true, says: /^n3 unhealthy: connection refused$/ },
  { rule: 'this member unhealthy', members: [dead(1), member(2), member(3)], expected: view(1, 2, 3), complete: false, says: /^n1 unhealthy: connection refused$/ },
  { rule: 'this member a learner', members: [member(1, { isLearner: true }), member(2), member(3)], expected: view(1, 2, 3), complete: false, says: /learner, waiting to be promoted/ },
  { rule: 'this member missing from the list', members: [member(2), member(3)], expected: view(2, 3), complete: false, says: /this member is not in the member list/ },
  { rule: 'steady state (no initial view): a member added but not started is named', members: [member(1), member(2), unstarted(4)], expected: undefined, complete: true, says: /^n4 unhealthy: not started yet$/ },
];

for (const row of rows) {
  t.test(row.rule, async (t) => {
    const got = judgeCluster(row.members, 'm1', row.leader === undefined ? 'm2' : row.leader, row.expected);
    t.equal(got.complete, row.complete, `complete: ${got.reason}`);
    t.match(got.reason, row.says);
  });
}

t.test('localHealthy: a healthy voter that knows a leader', async (t) => {
  t.equal(judgeCluster([member(1), dead(2)], 'm1', 'm1', undefined).localHealthy, true);
  t.equal(judgeCluster([member(1)], 'm1', null, undefined).localHealthy, false, 'no leader');
  t.equal(judgeCluster([member(1, { isLearner: true })], 'm1', 'm2', undefined).localHealthy, false, 'a learner');
  t.equal(judgeCluster([dead(1)], 'm1', 'm2', undefined).localHealthy, false, 'unhealthy');
});
