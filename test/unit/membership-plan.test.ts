/**
 * The membership planner as a table: observed state in, one action and every
 * joiner's answer out (src/agent/controllers/membership-plan.ts).
 */
import t from 'tap';
import {
  planMembership,
  peerUrlOf,
  resizeRefusal,
  type LearnerState,
  type PlanInput,
  type PlanMember,
} from '../../src/agent/controllers/membership-plan.js';
import type { AdmittedRecord, CandidateRecord, JoinRecord } from '../../src/etcd/records.js';

const NOW = Date.parse('2030-01-01T00:10:00Z');
const MIN = 60_000;

const cand = (n: number): CandidateRecord => ({
  nodeId: n.toString(16).padStart(32, '0'),
  name: `n${n}`,
  address: `127.0.61.${10 + n}`,
  peerApiPort: 2390,
  etcdPeerPort: 2380,
  etcdClientPort: 2379,
});
const voter = (n: number, healthy = true): PlanMember => ({ id: `a${n}`, name: `n${n}`, peerUrls: [peerUrlOf(cand(n))], isLearner: false, healthy });
const learner = (n: number, started = true): PlanMember => ({ id: `a${n}`, name: started ? `n${n}` : '', peerUrls: [peerUrlOf(cand(n))], isLearner: true, healthy: started });
const join = (n: number, sinceMin = 0): JoinRecord => ({ candidate: cand(n), reason: 'fresh', since: new Date(NOW - 10 * MIN + sinceMin * MIN).toISOString() });
const admitted = (n: number, agoMs = 10_000): AdmittedRecord => ({ candidate: cand(n), memberId: `a${n}`, admittedAt: new Date(NOW - agoMs).toISOString(), reason: 'fresh' });
const progress = (n: number, o: Partial<LearnerState> = {}): LearnerState => ({
  memberId: `a${n}`,
  since: NOW - 10_000,
  progressAt: NOW - 10_000,
  started: true,
  caughtUp: true,
  detail: 'raft index 100 of the leader\'s 100',
  ...o,
});

function input(o: Partial<PlanInput>): PlanInput {
  return {
    now: NOW,
    wantedSize: 3,
    members: [voter(1), voter(2), voter(3)],
    learners: [],
    joins: [],
    admitted: [],
    learnerTimeoutMs: 5 * MIN,
    protectedIds: ['a1'],
    ...o,
  };
}

interface Row {
  name: string;
  in: Partial<PlanInput>;
  action: string;
  /** Substring of the action's reason. */
  why?: RegExp;
  /** Expected target: member id for promote/remove, node id (as n<N>) for add-learner. */
  target?: string;
  answers?: Record<string, [string, RegExp?]>;
}

const rows: Row[] = [
  { name: 'full cluster, nobody waiting: nothing', in: {}, action: 'none', why: /3 of 3 voters/ },
  {
    name: 'full cluster: a joiner is a spare and told why',
    in: { joins: [join(4)] },
    action: 'none',
    answers: { n4: ['spare', /cluster has 3 of 3 voters; this node replaces the first member that fails/] },
  },
  {
    name: 'resize 3 -> 5 with two joiners: the first in the queue is added as a learner',
    in: { wantedSize: 5, joins: [join(5, 1), join(4, 0)] },
    action: 'add-learner',
    target: 'n4',
    answers: { n4: ['queued', /being added as a learner now/], n5: ['queued', /position 2/] },
  },
  {
    name: 'right after a membership change, the next add waits for etcd to settle',
    in: { wantedSize: 5, joins: [join(4)], lastChangeAt: NOW - 2000 },
    action: 'none',
    why: /n4 is next; waiting 3s after the last membership change/,
    answers: { n4: ['queued', /position 1: next to be added/] },
  },
  {
    name: 'five seconds after the last change, the next joiner is added',
    in: { wantedSize: 5, joins: [join(4)], lastChangeAt: NOW - 5000 },
    action: 'add-learner',
    target: 'n4',
  },
  {
    name: 'same first ask: the lower node id goes first',
    in: { wantedSize: 5, joins: [join(5, 0), join(4, 0)] },
    action: 'add-learner',
    target: 'n4',
  },
  {
    name: 'one open seat, two joiners: the second is a spare',
    in: { wantedSize: 4, joins: [join(4, 0), join(5, 1)] },
    action: 'add-learner',
    target: 'n4',
    answers: { n5: ['spare', /3 of 4 voters/] },
  },
  {
    name: 'a second learner while one is pending waits (one learner at a time)',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3), learner(4, false)],
      admitted: [admitted(4)],
      learners: [progress(4, { started: false, caughtUp: false, detail: 'its etcd does not answer' })],
      joins: [join(4, 0), join(5, 1)],
    },
    action: 'none',
    why: /waiting for learner n4 to start; one learner at a time/,
    answers: { n4: ['admitted'], n5: ['queued', /one learner at a time: n4 is being added/] },
  },
  {
    name: 'a learner that runs and has caught up is promoted',
    in: { wantedSize: 5, members: [voter(1), voter(2), voter(3), learner(4)], admitted: [admitted(4)], learners: [progress(4)] },
    action: 'promote',
    target: 'a4',
    why: /runs and has caught up/,
  },
  {
    name: 'a learner that never started is never promoted (3.4.23 would)',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3), learner(4, false)],
      admitted: [admitted(4)],
      learners: [progress(4, { started: false, caughtUp: false })],
    },
    action: 'none',
    why: /to start/,
  },
  {
    name: 'a learner that started but lags is not promoted yet',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3), learner(4)],
      admitted: [admitted(4)],
      learners: [progress(4, { caughtUp: false, detail: 'raft index 10 of the leader\'s 100' })],
    },
    action: 'none',
    why: /to catch up \(raft index 10/,
  },
  {
    name: 'a learner that has not started within the learner timeout is removed',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3), learner(4, false)],
      admitted: [admitted(4, 6 * MIN)],
      learners: [progress(4, { since: NOW - 6 * MIN, progressAt: NOW - 6 * MIN, started: false, caughtUp: false })],
    },
    action: 'remove-learner',
    target: 'a4',
    why: /has not started within 6m; the learner timeout is 5m/,
  },
  {
    name: 'a started learner without progress for the timeout is removed',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3), learner(4)],
      admitted: [admitted(4, 20 * MIN)],
      learners: [progress(4, { since: NOW - 20 * MIN, progressAt: NOW - 5 * MIN, caughtUp: false })],
    },
    action: 'remove-learner',
    why: /made no progress for 5m/,
  },
  {
    name: 'a slow learner that still makes progress is kept',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3), learner(4)],
      admitted: [admitted(4, 20 * MIN)],
      learners: [progress(4, { since: NOW - 20 * MIN, progressAt: NOW - MIN, caughtUp: false })],
    },
    action: 'none',
  },
  {
    name: 'no change without a healthy quorum',
    in: { wantedSize: 5, members: [voter(1), voter(2, false), voter(3, false)], joins: [join(4)] },
    action: 'none',
    why: /only 1 of 3 voters are healthy \(quorum is 2\)/,
  },
  {
    name: 'no promotion while the healthy voters are not a quorum',
    in: {
      wantedSize: 5,
      members: [voter(1), voter(2), voter(3, false), voter(5, false), learner(4)],
      admitted: [admitted(4)],
      learners: [progress(4)],
    },
    action: 'none',
    why: /only 2 of 4 voters are healthy \(quorum is 3\)/,
  },
  {
    name: 'an admission record of a learner that is gone is forgotten first',
    in: { admitted: [admitted(4)] },
    action: 'forget-admitted',
    target: 'n4',
    why: /no longer a member/,
  },
  {
    name: 'an admission record of a member that is a voter now is forgotten',
    in: { members: [voter(1), voter(2), voter(3), voter(4)], wantedSize: 4, admitted: [admitted(4)] },
    action: 'forget-admitted',
    why: /voter now/,
  },
  {
    name: 'a learner added without its admission record is adopted for its joiner',
    in: { wantedSize: 5, members: [voter(1), voter(2), voter(3), learner(4, false)], joins: [join(4)], learners: [progress(4, { started: false, caughtUp: false })] },
    action: 'record-admitted',
    target: 'a4',
  },
  {
    name: 'a joiner with a member\'s name is refused, naming the member',
    in: { wantedSize: 5, joins: [{ ...join(9), candidate: { ...cand(9), name: 'n2' } }] },
    action: 'none',
    answers: { n9: ['refused', /member a2 \(n2, healthy\) already has the name "n2"/] },
  },
  {
    name: 'a resize below the learner count removes the pending learner',
    in: { wantedSize: 3, members: [voter(1), voter(2), voter(3), learner(4)], admitted: [admitted(4)], learners: [progress(4)] },
    action: 'remove-learner',
    why: /already has 3 of 3 wanted voters/,
  },
  {
    name: 'resize down: one unprotected voter is removed, unhealthy first',
    in: { wantedSize: 3, members: [voter(1), voter(2), voter(3), voter(4), voter(5, false)] },
    action: 'remove-voter',
    target: 'a5',
  },
  {
    name: 'resize down: never the protected members',
    in: { wantedSize: 1, members: [voter(1), voter(2)], protectedIds: ['a1', 'a2'] },
    action: 'none',
    why: /protected/,
  },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const plan = planMembership(input(row.in));
    t.equal(plan.action.kind, row.action, `action (${JSON.stringify(plan.action)})`);
    if (row.why) t.match(plan.action.reason, row.why);
    if (row.target) {
      const a = plan.action;
      const target = a.kind === 'add-learner' ? a.joiner.candidate.name : a.kind === 'forget-admitted' ? a.name : 'memberId' in a ? a.memberId : '';
      t.equal(target, row.target, 'target');
    }
    for (const [name, [state, why]] of Object.entries(row.answers ?? {})) {
      const id = cand(Number(name.slice(1))).nodeId;
      const answer = plan.answers.get(id);
      t.equal(answer?.state, state, `${name} is ${state} (${answer?.reason ?? 'no answer'})`);
      if (why) t.match(answer?.reason ?? '', why);
    }
  });
}

t.test('the queue is served in order across rounds, one learner at a time', async (t) => {
  // Simulate rounds: apply each action to the state, as the controller would.
  let members: PlanMember[] = [voter(1), voter(2), voter(3)];
  let adm: AdmittedRecord[] = [];
  const joins = [join(6, 2), join(4, 0), join(5, 1)];
  const order: string[] = [];
  for (let round = 0; round < 20; round++) {
    const learners = members.filter((m) => m.isLearner).map((m) => progress(Number(m.id.slice(1))));
    const plan = planMembership(input({ wantedSize: 5, members, admitted: adm, joins: joins.filter((j) => !members.some((m) => m.name === j.candidate.name && !m.isLearner)), learners }));
    t.ok(members.filter((m) => m.isLearner).length <= 1, 'never more than one learner');
    const a = plan.action;
    if (a.kind === 'add-learner') {
      const n = Number(a.joiner.candidate.name.slice(1));
      order.push(a.joiner.candidate.name);
      members = [...members, learner(n)];
      adm = [...adm, admitted(n)];
    } else if (a.kind === 'promote') {
      members = members.map((m) => (m.id === a.memberId ? { ...m, isLearner: false } : m));
    } else if (a.kind === 'forget-admitted') {
      adm = adm.filter((x) => x.candidate.nodeId !== a.nodeId);
    } else break;
  }
  t.same(order, ['n4', 'n5'], 'first asked first; the third stays a spare');
  t.equal(members.filter((m) => !m.isLearner).length, 5, 'five voters');
  const last = planMembership(input({ wantedSize: 5, members, admitted: adm, joins: [join(6, 2)] }));
  t.equal(last.answers.get(cand(6).nodeId)?.state, 'spare');
});

t.test('cluster resize: the exact rule', async (t) => {
  const rows: [n: number, voters: number, healthy: number, refuse: RegExp | undefined][] = [
    [5, 3, 3, undefined],
    [3, 3, 3, undefined],
    [2, 3, 3, undefined],
    [1, 3, 3, /below the quorum of the 3 healthy voters \(2\); the smallest size allowed now is 2/],
    [0, 3, 3, /must be a whole number of at least 1/],
    [-1, 3, 3, /at least 1/],
    [3, 5, 5, undefined],
    [2, 5, 5, /smallest size allowed now is 3/],
    [5, 3, 1, /only 1 of 3 voters are healthy, not a quorum \(2\)/],
    [2, 3, 2, undefined],
    [1, 3, 2, /quorum of the 2 healthy voters \(2\)/],
    [1, 1, 1, undefined],
    [9, 1, 1, undefined],
  ];
  for (const [n, voters, healthy, refuse] of rows) {
    const got = resizeRefusal(n, voters, healthy);
    if (refuse) t.match(got ?? '', refuse, `resize ${n} with ${healthy} of ${voters} healthy: refused`);
    else t.equal(got, undefined, `resize ${n} with ${healthy} of ${voters} healthy: allowed`);
  }
});
