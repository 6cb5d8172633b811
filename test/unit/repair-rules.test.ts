/**
 * The repair rules of membership planning, one row per rule: members ×
 * waiting joiners × wanted size → remove (whom, for whom), blocked (why), or
 * none (why).
 */
import t from 'tap';
import { planMembership, peerUrlOf, type PlanInput, type PlanMember } from '../../src/agent/controllers/membership-plan.js';
import { deadVoters, nameConflict, planRepair, quorumOf, removalGuard, repairRule, type RepairInput, type RepairMember, type WaitingJoiner } from '../../src/agent/controllers/repair-rules.js';
import type { CandidateRecord, JoinRecord } from '../../src/etcd/records.js';

const S = 1000;
const DEAD_AFTER = 60 * S;
const up = (n: number): RepairMember => ({ id: `m${n}`, name: `n${n}`, isLearner: false, healthy: true, unhealthyForMs: 0 });
const down = (n: number, forMs: number): RepairMember => ({ ...up(n), healthy: false, unhealthyForMs: forMs });
const learner = (n: number, healthy = true): RepairMember => ({ ...up(n), isLearner: true, healthy, unhealthyForMs: healthy ? 0 : 5 * S });
const joiner = (n: number, reason: WaitingJoiner['reason'] = 'fresh'): WaitingJoiner => ({ nodeId: `j${n}`, name: `n${n}`, reason });

type Expect = { kind: 'none' | 'blocked'; says: string } | { kind: 'remove'; memberId: string; replacement: string; why: 'dead' | 'same-name' };

const base: RepairInput = { members: [], localMemberId: 'm1', wantedSize: 3, waiting: [], deadAfterMs: DEAD_AFTER };

const rows: { rule: string; input: Partial<RepairInput>; expect: Expect }[] = [
  // rule 1: never without a waiting replacement
  { rule: 'dead member, nobody waiting: nothing removed', input: { members: [up(1), up(2), down(3, 10 * DEAD_AFTER)] }, expect: { kind: 'none', says: 'no replacement is waiting' } },
  { rule: 'all healthy, nobody waiting', input: { members: [up(1), up(2), up(3)] }, expect: { kind: 'none', says: 'no joiner waiting' } },
  // rule 6: a spare takes a dead member's seat
  { rule: 'dead voter, spare waiting, cluster full: remove the dead one', input: { members: [up(1), up(2), down(3, DEAD_AFTER)], waiting: [joiner(4)] }, expect: { kind: 'remove', memberId: 'm3', replacement: 'j4', why: 'dead' } },
  { rule: 'unhealthy but not yet dead: the spare waits', input: { members: [up(1), up(2), down(3, DEAD_AFTER - 1)], waiting: [joiner(4)] }, expect: { kind: 'none', says: 'none dead' } },
  { rule: 'two dead (of 5): the one down longest goes first', input: { wantedSize: 5, members: [up(1), up(2), up(3), down(4, 2 * DEAD_AFTER), down(5, 3 * DEAD_AFTER)], waiting: [joiner(6)] }, expect: { kind: 'remove', memberId: 'm5', replacement: 'j6', why: 'dead' } },
  { rule: 'room for the joiner (voters < wanted): add, do not remove', input: { wantedSize: 5, members: [up(1), up(2), down(3, 9 * DEAD_AFTER)], waiting: [joiner(4)] }, expect: { kind: 'none', says: 'added without removing' } },
  { rule: 'more voters than wanted: removal would not make room', input: { wantedSize: 3, members: [up(1), up(2), up(3), down(4, 9 * DEAD_AFTER)], waiting: [joiner(5)] }, expect: { kind: 'none', says: 'no seat' } },
  { rule: 'the wanted size is not met by healthy voters (3 wanted, 2 healthy of 3): remove the dead', input: { members: [up(1), down(2, DEAD_AFTER), up(3)], waiting: [joiner(4, 'removed')] }, expect: { kind: 'remove', memberId: 'm2', replacement: 'j4', why: 'dead' } },
  // rule 2: one learner at a time
  { rule: 'dead voter and spare, but a learner is pending', input: { members: [up(1), up(2), down(3, DEAD_AFTER), learner(5)], waiting: [joiner(4)] }, expect: { kind: 'blocked', says: 'learner n5 (m5) is pending' } },
  // rule 4: the quorum guard
  { rule: 'quorum guard: 2 of 3 down, removing one leaves 1 healthy of 2', input: { members: [up(1), down(2, DEAD_AFTER), down(3, DEAD_AFTER)], waiting: [joiner(4)] }, expect: { kind: 'blocked', says: 'fewer than their quorum of 2' } },
  { rule: 'quorum guard with 5: 2 down, removing one leaves 3 healthy of 4 (quorum 3)', input: { wantedSize: 5, members: [up(1), up(2), up(3), down(4, DEAD_AFTER), down(5, 2 * DEAD_AFTER)], waiting: [joiner(6)] }, expect: { kind: 'remove', memberId: 'm5', replacement: 'j6', why: 'dead' } },
  { rule: 'quorum guard with 4: 2 down of 4, removing one leaves 2 healthy of 3 (quorum 2)', input: { wantedSize: 4, members: [up(1), up(2), down(3, DEAD_AFTER), down(4, 2 * DEAD_AFTER)], waiting: [joiner(6)] }, expect: { kind: 'remove', memberId: 'm4', replacement: 'j6', why: 'dead' } },
  // rule 3: never the local member
  { rule: 'the local member is never removed, even when it looks dead', input: { localMemberId: 'm3', members: [up(1), up(2), down(3, 9 * DEAD_AFTER)], waiting: [joiner(4)] }, expect: { kind: 'none', says: 'none dead' } },
  { rule: 'a same-name joiner never replaces the local member', input: { localMemberId: 'm3', members: [up(1), up(2), down(3, S)], waiting: [joiner(3)] }, expect: { kind: 'blocked', says: 'this node\'s own member' } },
  // rule 5: same name
  { rule: 'reinstalled host (fresh, same name as an unhealthy member): replaced at once, no deadAfter', input: { members: [up(1), up(2), down(3, S)], waiting: [joiner(3)] }, expect: { kind: 'remove', memberId: 'm3', replacement: 'j3', why: 'same-name' } },
  { rule: 'wiped data dir: replaced at once', input: { members: [up(1), up(2), down(3, 0)], waiting: [joiner(3, 'wiped')] }, expect: { kind: 'remove', memberId: 'm3', replacement: 'j3', why: 'same-name' } },
  { rule: 'same-name joiner goes before an older spare', input: { members: [up(1), down(2, 9 * DEAD_AFTER), up(3), down(4, S)], wantedSize: 4, waiting: [joiner(5), joiner(4, 'wiped')] }, expect: { kind: 'remove', memberId: 'm4', replacement: 'j4', why: 'same-name' } },
  { rule: 'same-name joiner whose old member is the pending learner: that learner is removed', input: { members: [up(1), up(2), up(3), learner(4, false)], waiting: [joiner(4, 'wiped')] }, expect: { kind: 'remove', memberId: 'm4', replacement: 'j4', why: 'same-name' } },
  { rule: 'same-name joiner while another learner is pending', input: { members: [up(1), up(2), down(3, S), learner(4)], waiting: [joiner(3)] }, expect: { kind: 'blocked', says: 'learner n4 (m4) is pending' } },
  { rule: 'same-name joiner under the quorum guard', input: { members: [up(1), down(2, S), down(3, S)], waiting: [joiner(3)] }, expect: { kind: 'blocked', says: 'fewer than their quorum' } },
  { rule: 'joiner with a healthy member\'s name: not a repair, and it takes no dead seat', input: { members: [up(1), up(2), down(3, 9 * DEAD_AFTER)], waiting: [joiner(2)] }, expect: { kind: 'none', says: 'claims a healthy member' } },
  { rule: 'a refused name claim does not hold up the spare behind it', input: { members: [up(1), up(2), down(3, 9 * DEAD_AFTER)], waiting: [joiner(2), joiner(4)] }, expect: { kind: 'remove', memberId: 'm3', replacement: 'j4', why: 'dead' } },
  { rule: 'removed member coming back under its name, which is gone from the list: an ordinary spare', input: { members: [up(1), up(2), up(4)], waiting: [joiner(3, 'removed')] }, expect: { kind: 'none', says: 'waits as a spare' } },
  { rule: 'learners do not count as dead voters', input: { members: [up(1), up(2), up(3), { ...learner(4, false), unhealthyForMs: 9 * DEAD_AFTER }], waiting: [joiner(5)] }, expect: { kind: 'none', says: 'none dead' } },
];

t.test('planRepair', async (t) => {
  for (const row of rows) {
    const got = planRepair({ ...base, ...row.input });
    t.equal(got.kind, row.expect.kind, `${row.rule}: ${got.kind} (${got.reason})`);
    if (row.expect.kind === 'remove' && got.kind === 'remove') {
      t.same({ memberId: got.memberId, replacement: got.replacement, why: got.why }, { memberId: row.expect.memberId, replacement: row.expect.replacement, why: row.expect.why }, row.rule);
    } else if (row.expect.kind !== 'remove') {
      t.ok(got.reason.includes(row.expect.says), `${row.rule}: reason says "${row.expect.says}" (got "${got.reason}")`);
    }
  }
});

t.test('every removal the planner makes passes the quorum guard (exhaustive over small clusters)', async (t) => {
  let checked = 0;
  for (let voters = 1; voters <= 5; voters++) {
    for (let mask = 0; mask < 1 << voters; mask++) {
      const members = Array.from({ length: voters }, (_, i) => ((mask >> i) & 1 ? down(i + 1, DEAD_AFTER * (i + 1)) : up(i + 1)));
      for (const wantedSize of [voters - 1, voters, voters + 1].filter((w) => w >= 1)) {
        for (const waiting of [[joiner(9)], [joiner(voters)], [joiner(1)]]) {
          const got = planRepair({ ...base, localMemberId: 'none', members, wantedSize, waiting });
          if (got.kind !== 'remove') continue;
          checked++;
          const after = members.filter((m) => m.id !== got.memberId);
          t.ok(after.filter((m) => m.healthy).length >= quorumOf(after.length), `${JSON.stringify({ mask, voters, wantedSize })}: quorum kept`);
          t.notOk(members.find((m) => m.id === got.memberId)?.healthy, 'only an unhealthy member is removed');
        }
      }
    }
  }
  t.ok(checked > 20, `${checked} removals checked`);
});

t.test('helpers', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7].map(quorumOf), [1, 2, 2, 3, 3, 4, 4], 'quorum of 1..7 voters');
  t.same(deadVoters([up(1), down(2, DEAD_AFTER), down(3, 2 * DEAD_AFTER), down(4, 1)], DEAD_AFTER).map((m) => m.id), ['m3', 'm2']);
  t.equal(removalGuard([up(1), learner(2)], learner(2), 'm1'), undefined, 'a learner never touches quorum');
  t.match(removalGuard([down(1, S)], down(1, S), 'm9'), /no voting member/);
  const conflict = nameConflict({ name: 'n2', nodeId: 'j9' }, [up(1), up(2)]);
  t.match(conflict, /the name "n2" belongs to healthy member m2/, 'names the member holding the name');
  t.equal(nameConflict({ name: 'n2', nodeId: 'j9' }, [up(1), down(2, S)]), undefined, 'an unhealthy member\'s name may be taken over');
  t.equal(nameConflict({ name: 'n7', nodeId: 'j9' }, [up(1), up(2)]), undefined);
});

/**
 * The repair rule in front of the membership planner's join rules (what the
 * controller runs): a host dies with a spare waiting → remove it, then the
 * join rules add the spare; a reinstalled host replaces its old member at
 * once; a pending learner is handled by the join rules first.
 */
t.test('repairRule in front of planMembership', async (t) => {
  const NOW = Date.parse('2030-01-01T00:10:00Z');
  const cand = (n: number): CandidateRecord => ({ nodeId: n.toString(16).padStart(32, '0'), name: `n${n}`, address: `127.0.65.${10 + n}`, peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379 });
  const voter = (n: number, healthy = true): PlanMember => ({ id: `a${n}`, name: `n${n}`, peerUrls: [peerUrlOf(cand(n))], isLearner: false, healthy });
  const join = (n: number, reason: JoinRecord['reason'] = 'fresh', sinceMs = 60_000): JoinRecord => ({ candidate: cand(n), reason, since: new Date(NOW - sinceMs).toISOString() });
  const plan = (o: Partial<PlanInput>, unhealthy: Record<string, number>) => {
    const rule = repairRule({ unhealthySince: () => new Map(Object.entries(unhealthy).map(([id, ms]) => [id, NOW - ms])), localMemberId: () => 'a1', deadAfterMs: DEAD_AFTER });
    return planMembership({ now: NOW, wantedSize: 3, members: [voter(1), voter(2), voter(3)], learners: [], joins: [], admitted: [], learnerTimeoutMs: 300_000, protectedIds: ['a1'], ...o }, [rule]).action;
  };

  let a = plan({ members: [voter(1), voter(2), voter(3, false)], joins: [join(4)] }, { a3: DEAD_AFTER });
  t.match(a, { kind: 'remove-voter', memberId: 'a3', name: 'n3' }, `dead + spare: the dead voter is removed (${a.reason})`);
  a = plan({ members: [voter(1), voter(2)], joins: [join(4)] }, {});
  t.match(a, { kind: 'add-learner', peerUrl: peerUrlOf(cand(4)) }, 'then the join rules add the spare');
  a = plan({ members: [voter(1), voter(2), voter(3, false)], joins: [join(4)] }, { a3: DEAD_AFTER - 1 });
  t.match(a, { kind: 'none' }, 'not before deadAfter: the spare waits');
  a = plan({ members: [voter(1), voter(2), voter(3, false)] }, { a3: 10 * DEAD_AFTER });
  t.match(a, { kind: 'none' }, 'no replacement waiting: nothing removed');

  a = plan({ members: [voter(1), voter(2), voter(3, false)], joins: [{ ...join(3), candidate: { ...cand(3), nodeId: 'f'.repeat(32) } }] }, { a3: 1000 });
  t.match(a, { kind: 'remove-voter', memberId: 'a3' }, 'a reinstalled host (new key, same name) replaces its old member at once');
  a = plan({ members: [voter(1), voter(2), voter(3, false)], joins: [join(3, 'wiped')] }, { a3: 0 });
  t.match(a, { kind: 'remove-voter', memberId: 'a3' }, 'a wiped member is replaced at once');
  a = plan({ members: [voter(1), voter(2), voter(3)], joins: [{ ...join(3), candidate: { ...cand(3), nodeId: 'f'.repeat(32) } }] }, {});
  t.match(a, { kind: 'none' }, 'a joiner with a healthy member\'s name changes nothing');

  const learner4: PlanMember = { id: 'a4', name: 'n4', peerUrls: [peerUrlOf(cand(4))], isLearner: true, healthy: true };
  a = plan({
    wantedSize: 4,
    members: [voter(1), voter(2), voter(3, false), learner4],
    learners: [{ memberId: 'a4', since: NOW - 10_000, progressAt: NOW - 10_000, started: true, caughtUp: true, detail: 'caught up' }],
    admitted: [{ candidate: cand(4), memberId: 'a4', admittedAt: new Date(NOW - 10_000).toISOString(), reason: 'fresh' }],
    joins: [join(5)],
  }, { a3: 10 * DEAD_AFTER });
  t.match(a, { kind: 'promote', memberId: 'a4' }, 'a pending learner is promoted first (one change at a time)');
  a = plan({ members: [voter(1), voter(2, false), voter(3, false)], joins: [join(4)] }, { a2: DEAD_AFTER, a3: DEAD_AFTER });
  t.match(a, { kind: 'none', reason: /quorum/ }, 'the quorum guard holds');
});
