/**
 * Whether this node's member was removed, judged only from answers that can
 * be trusted: healthy members of our own cluster id; one such answer without
 * our id is enough (removal is final).
 */
import t from 'tap';
import { judgeMembership, type MemberAnswer } from '../../src/agent/controllers/removal-check.js';

const own = { memberId: 'a1', clusterId: 'c1' };
const ok = (endpoint: string, memberIds: string[], clusterId = 'c1'): MemberAnswer => ({ endpoint, healthy: true, clusterId, memberIds });
const sick = (endpoint: string): MemberAnswer => ({ endpoint, healthy: false, problem: 'unhealthy: the member knows no leader' });

const rows: { rule: string; answers: MemberAnswer[]; kind: 'member' | 'removed' | 'unknown'; says?: RegExp }[] = [
  { rule: 'listed by a healthy member', answers: [ok('e2', ['a1', 'b2', 'c3'])], kind: 'member' },
  { rule: 'missing from a healthy member\'s list', answers: [ok('e2', ['b2', 'c3', 'd4'])], kind: 'removed', says: /e2 of cluster c1 lists 3 members and member a1 \(this node\) is not one of them/ },
  { rule: 'removal is final: one healthy answer without us outweighs one with us', answers: [ok('e2', ['a1', 'b2']), ok('e3', ['b2', 'c3'])], kind: 'removed' },
  { rule: 'an unhealthy member (maybe stale) does not count', answers: [{ ...sick('e2'), clusterId: 'c1', memberIds: ['b2'] }], kind: 'unknown', says: /no healthy member/ },
  { rule: 'a member of another cluster does not count', answers: [ok('e9', ['x9'], 'c9')], kind: 'unknown', says: /belongs to cluster c9, not c1/ },
  { rule: 'nobody answers', answers: [sick('e2'), sick('e3')], kind: 'unknown', says: /e2: unhealthy.*e3: unhealthy/ },
  { rule: 'nobody to ask', answers: [], kind: 'unknown', says: /no other member is known/ },
];

for (const row of rows) {
  const got = judgeMembership(own, row.answers);
  t.equal(got.kind, row.kind, `${row.rule} → ${got.kind} (${got.reason})`);
  if (row.says) t.match(got.reason, row.says, row.rule);
}
