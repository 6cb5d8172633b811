/**
 * The admission gate, one row per rule: caller kind × node state × request →
 * the identity to sign for, or a refusal with its code and reason.
 */
import t from 'tap';
import { addressProblem, admitCertificate, admitHello, type GateState, type PeerCaller } from '../../src/agent/admission.js';
import type { Candidate, PeerInfo } from '../../src/agent/peer/protocol.js';

const id = (n: number): string => n.toString(16).padStart(32, '0');
const member = (n: number): Candidate => ({
  nodeId: id(n),
  name: `n${n}`,
  address: `10.9.0.${n}`,
  peerApiPort: 2390,
  etcdPeerPort: 2380,
  etcdClientPort: 2379,
});
const view = [member(1), member(2), member(3)];
const info = (c: Candidate): PeerInfo => ({ ...c, protocol: 1, clusterName: 'unit', version: '0.1.0', stage: 'fresh' });

const token = (c: Candidate, keyId = c.nodeId): PeerCaller => ({ via: 'token', info: info(c), fingerprint: 'AA', keyId });
const ca = (commonName: string, keyId = 'k'.repeat(32)): PeerCaller => ({ via: 'ca', commonName, fingerprint: 'BB', keyId });

const holderState: GateState = {
  selfId: id(1),
  selfName: 'n1',
  selfAddress: '10.9.0.1',
  view,
  formed: false,
  holder: true,
  holderName: 'n1',
};

t.test('certificate admission', async (t) => {
  const rows: { rule: string; caller: PeerCaller; state: Partial<GateState>; expect: string | { name: string; keyId: string } }[] = [
    { rule: 'initial member over its token session', caller: token(member(2)), state: {}, expect: { name: 'n2', keyId: id(2) } },
    { rule: 'initial member over its cluster certificate', caller: ca('n3', 'c'.repeat(32)), state: {}, expect: { name: 'n3', keyId: 'c'.repeat(32) } },
    { rule: 'the CA holder enrolling itself', caller: { via: 'self', keyId: id(1) }, state: {}, expect: { name: 'n1', keyId: id(1) } },
    { rule: 'the holder enrolling itself under a key that is not its id', caller: { via: 'self', keyId: id(9) }, state: {}, expect: 'EA_PEER_FORBIDDEN' },
    { rule: 'no committed view yet', caller: token(member(2)), state: { view: undefined }, expect: 'EA_PEER_NOT_READY' },
    { rule: 'not the CA holder', caller: token(member(2)), state: { holder: false, holderName: 'n1' }, expect: 'EA_PEER_FORBIDDEN: this agent is not the CA holder; n1 is' },
    { rule: 'a token holder that is not an initial member', caller: token(member(9)), state: {}, expect: 'EA_PEER_FORBIDDEN: n9' },
    {
      rule: 'a token holder claiming a member id with another key (impersonation)',
      caller: token(member(2), id(9)),
      state: {},
      expect: 'EA_PEER_FORBIDDEN: n2 (',
    },
    { rule: 'a cluster certificate naming no initial member', caller: ca('stranger'), state: {}, expect: 'EA_PEER_FORBIDDEN: stranger' },
    { rule: 'after formation the token enrolls no one', caller: token(member(2)), state: { formed: true }, expect: 'EA_PEER_FORBIDDEN: the cluster has formed' },
    { rule: 'after formation a member keeps its certificate path', caller: ca('n2'), state: { formed: true }, expect: { name: 'n2', keyId: 'k'.repeat(32) } },
  ];
  for (const row of rows) {
    const got = admitCertificate(row.caller, { ...holderState, ...row.state }, 'enroll');
    if (typeof row.expect === 'string') {
      const [code, reason] = row.expect.split(': ');
      t.equal(got.admitted, false, `${row.rule}: refused`);
      if (!got.admitted) {
        t.equal(got.code, code, `${row.rule}: code`);
        if (reason) t.ok(got.reason.includes(reason), `${row.rule}: reason says "${reason}" (got "${got.reason}")`);
      }
    } else {
      const want = row.expect;
      t.equal(got.admitted, true, `${row.rule}: admitted`);
      if (got.admitted) {
        t.equal(got.identity.name, want.name, `${row.rule}: signed for its own name`);
        t.same(got.identity.addresses, [view.find((m) => m.name === want.name)!.address], `${row.rule}: its own address`);
        t.equal(got.identity.keyId, want.keyId, `${row.rule}: bound to the session key`);
      }
    }
  }
});

t.test('after formation the token enrolls exactly the admitted joiner, as itself', async (t) => {
  const joiner = member(4);
  const formed: GateState = { ...holderState, formed: true, admitted: joiner };
  const got = admitCertificate(token(joiner), formed, 'enroll');
  t.equal(got.admitted, true, 'the admitted joiner enrolls over its token session');
  if (got.admitted) {
    t.equal(got.identity.name, 'n4', 'for the name it was admitted with');
    t.same(got.identity.addresses, ['10.9.0.4'], 'and its address only');
    t.equal(got.identity.keyId, joiner.nodeId, 'bound to its key');
  }
  const refusals: [string, PeerCaller, GateState, RegExp][] = [
    ['another token holder while n4 is admitted', token(member(5)), formed, /n5 .* is not one; it must ask to join first/],
    ['the admitted id with another key', token(joiner, id(9)), formed, /is not one/],
    ['nobody admitted', token(joiner), { ...formed, admitted: undefined }, /the cluster has formed/],
    ['the admitted joiner at a member that is not the holder', token(joiner), { ...formed, holder: false, holderName: 'n1' }, /not the CA holder; n1 is/],
  ];
  for (const [rule, caller, state, why] of refusals) {
    const r = admitCertificate(caller, state, 'enroll');
    t.equal(r.admitted, false, `${rule}: refused`);
    if (!r.admitted) {
      t.equal(r.code, 'EA_PEER_FORBIDDEN', `${rule}: code`);
      t.match(r.reason, why, `${rule}: reason`);
    }
  }
});

t.test('hello admission', async (t) => {
  const fresh = { ...holderState, view: undefined };
  const stranger: Candidate = { ...member(7) };
  const rows: { rule: string; info: PeerInfo; keyId?: string; viaCa?: boolean; state?: GateState; refuse?: RegExp }[] = [
    { rule: 'a fresh agent with its own key', info: info(stranger), state: fresh },
    { rule: 'an initial member as itself', info: info(member(2)) },
    { rule: 'an id that is not its key', info: info(stranger), keyId: id(8), refuse: /not the id of the key/ },
    { rule: 'a legacy id vouched for by its cluster certificate', info: info(stranger), keyId: id(8), viaCa: true, state: fresh },
    { rule: 'claims our own id', info: info({ ...member(1) }), keyId: id(1), refuse: /this node's own id/ },
    { rule: 'claims our name', info: info({ ...stranger, name: 'n1' }), state: fresh, refuse: /this node's name/ },
    { rule: 'claims our address', info: info({ ...stranger, address: '10.9.0.1' }), state: fresh, refuse: /this node's address/ },
    { rule: 'an initial member under another name', info: info({ ...member(2), name: 'evil' }), refuse: /initial member n2/ },
    { rule: 'a stranger with a member name', info: info({ ...stranger, name: 'n3' }), refuse: /belongs to initial member/ },
    { rule: 'a stranger with a member address', info: info({ ...stranger, address: '10.9.0.3' }), refuse: /belongs to initial member n3/ },
    { rule: 'unspecified address', info: info({ ...stranger, address: '0.0.0.0' }), state: fresh, refuse: /not a unicast/ },
    { rule: 'multicast address', info: info({ ...stranger, address: '224.0.0.251' }), state: fresh, refuse: /not a unicast/ },
    { rule: 'broadcast address', info: info({ ...stranger, address: '255.255.255.255' }), state: fresh, refuse: /not a unicast/ },
    { rule: 'IPv6 multicast', info: info({ ...stranger, address: 'ff02::1' }), state: fresh, refuse: /not a unicast/ },
    { rule: 'not an IP at all', info: info({ ...stranger, address: '1.2.3' }), state: fresh, refuse: /not an IP address/ },
  ];
  for (const row of rows) {
    const got = admitHello(row.info, row.keyId ?? row.info.nodeId, row.viaCa ?? false, row.state ?? holderState);
    if (row.refuse) t.match(got, row.refuse, `${row.rule}: refused`);
    else t.equal(got, undefined, `${row.rule}: accepted`);
  }
  t.equal(addressProblem('10.1.2.3'), undefined);
  t.equal(addressProblem('fd00::1'), undefined);
});
