/**
 * A member's answer to a join request for reason `wiped` or `removed`: only
 * over a cluster certificate; admitted once its learner exists; refused when
 * its name belongs to a healthy member; queued while its old member is being
 * replaced or the cluster has room; spare when the cluster is full.
 */
import t from 'tap';
import type { PeerCaller } from '../../src/agent/admission.js';
import type { ClusterObservation } from '../../src/agent/controllers/cluster-health.js';
import { rejoinAnswerer } from '../../src/agent/join/rejoin-server.js';
import type { JoinRequest } from '../../src/agent/peer/protocol.js';
import type { EtcdMember } from '../../src/etcd/client.js';
import type { CandidateRecord, ClusterRecords } from '../../src/etcd/records.js';

const cand = (n: number): CandidateRecord => ({ nodeId: n.toString(16).padStart(32, '0'), name: `n${n}`, address: `127.0.65.${10 + n}`, peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379 });
const member = (n: number, isLearner = false): EtcdMember => ({ id: `a${n}`, name: `n${n}`, peerUrls: [`https://127.0.65.${10 + n}:2380`], clientUrls: [`https://127.0.65.${10 + n}:2379`], isLearner });
const obs = (healthy: Record<string, boolean>): ClusterObservation => ({
  clusterId: 'c1',
  localMemberId: 'a1',
  leaderId: 'a1',
  complete: true,
  localHealthy: true,
  reason: '',
  members: Object.entries(healthy).map(([id, h]) => ({ name: `n${id.slice(1)}`, id, peerUrls: [], clientUrls: [], isLearner: false, healthy: h })),
});
const records = (o: Partial<ClusterRecords> = {}): ClusterRecords => ({ size: 3, nodes: [], joins: [], admitted: [], ops: [], lockHolder: undefined, problems: [], ...o });
const caCaller = (n: number): PeerCaller => ({ via: 'ca', commonName: `n${n}`, fingerprint: 'AA', keyId: cand(n).nodeId, node: true, addresses: [cand(n).address] });
const request = (n: number, reason: JoinRequest['reason'] = 'wiped'): JoinRequest => ({ candidate: cand(n), reason });

function answerer(healthy: Record<string, boolean>) {
  const refused: string[] = [];
  const answer = rejoinAnswerer({ observation: () => obs(healthy), caHolder: () => cand(1), learnerTimeoutMs: 300_000, refused: (who, reason) => refused.push(`${who}: ${reason}`) });
  return { answer, refused };
}

t.test('answers', async (t) => {
  let a = answerer({ a1: true, a2: true, a3: false });
  let got = await a.answer({ via: 'token', info: { ...cand(3), protocol: 2, clusterName: 'c', version: '0', stage: 'fresh' }, fingerprint: 'x', keyId: cand(3).nodeId }, request(3), records(), [member(1), member(2), member(3)]);
  t.equal(got?.state, 'refused', 'a token caller cannot re-join: it must hold the cluster certificate');
  t.match(got?.reason, /reason "fresh"/);

  got = await a.answer(caCaller(3), request(3), records(), [member(1), member(2), member(3)]);
  t.equal(got?.state, 'queued', `old member unhealthy: queued while it is replaced (${got?.reason})`);
  t.match(got?.reason, /old member a3 is unhealthy/);
  t.same(a.refused, ['n3 (00000000000000000000000000000003): asked to join: a join for reason "wiped" must come with this cluster\'s certificate for "n3"; a new agent asks with reason "fresh"']);

  a = answerer({ a1: true, a2: true, a3: true });
  got = await a.answer(caCaller(3), request(3), records(), [member(1), member(2), member(3)]);
  t.equal(got?.state, 'refused', 'its name belongs to a healthy member');
  t.match(got?.reason, /the name "n3" belongs to healthy member a3/);
  t.equal(a.refused.length, 1, 'the refusal is recorded');

  a = answerer({ a1: true, a2: true });
  const admitted = { candidate: cand(3), memberId: 'a9', admittedAt: new Date().toISOString(), reason: 'wiped' as const };
  got = await a.answer(caCaller(3), request(3), records({ admitted: [admitted] }), [member(1), member(2), { ...member(9, true), name: '', clientUrls: [] }]);
  t.equal(got?.state, 'admitted');
  t.same(got?.admission, {
    memberId: 'a9',
    clusterId: 'c1',
    initialCluster: [{ name: 'n1', peerUrl: 'https://127.0.65.11:2380' }, { name: 'n2', peerUrl: 'https://127.0.65.12:2380' }, { name: 'n3', peerUrl: 'https://127.0.65.19:2380' }],
    clientUrls: ['https://127.0.65.11:2379', 'https://127.0.65.12:2379'],
  }, 'the admission names every member, itself under its name');
  t.same(got?.caHolder, cand(1));

  a = answerer({ a1: true, a2: true, a4: true });
  const join3 = { candidate: cand(3), reason: 'removed' as const, since: new Date().toISOString() };
  got = await a.answer(caCaller(3), request(3, 'removed'), records({ joins: [join3] }), [member(1), member(2), member(4)]);
  t.equal(got?.state, 'spare', `removed while away, cluster full again: a spare (${got?.reason})`);
  got = await a.answer(caCaller(3), request(3, 'removed'), records({ joins: [join3] }), [member(1), member(2)]);
  t.equal(got?.state, 'queued', 'removed, cluster has room: queued');
});
