/**
 * Who signs after formation (bootstrap/ca-role.ts over a stand-in election):
 * only a node that etcd confirms holds the CA role, with the CA it holds the
 * role with; a former holder, or a holder whose confirmation fails, signs
 * nothing; a formed node never makes a CA.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CaRole, type CaElection } from '../../src/agent/bootstrap/ca-role.js';
import { StateStore, type Enrollment } from '../../src/agent/bootstrap/state-store.js';
import type { GateState, PeerCaller } from '../../src/agent/admission.js';
import type { AgentConfig } from '../../src/agent/config/types.js';
import type { Candidate } from '../../src/agent/peer/protocol.js';
import { clientSubjectNames, createCa, createCsr, generateKeyPair, keyIdOfPublicKey, nodeSubjectNames, verifyIssuedBy, type CertificateAuthority } from '../../src/pki/index.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir, viewMember, type Teardown } from '../helpers/fixtures.js';

const config = { cluster: { name: 'unit' }, pki: { certValidityMs: 30 * 86_400_000, caValidityDays: 365 } } as unknown as AgentConfig;
const view = [viewMember(1), viewMember(2), viewMember(3)];
const enrollment: Enrollment = { clusterName: 'unit', initialClusterToken: 'unit-0123456789', view, caFingerprint: 'x', enrolledAt: 'now' };

class FakeElection implements CaElection {
  confirms = 0;
  constructor(
    public holding: boolean,
    public confirmed: boolean,
    public ca: CertificateAuthority | undefined,
    public holder: Candidate | undefined,
  ) {}
  currentHolder(): Candidate | undefined {
    return this.holder;
  }
  holdsRole(): boolean {
    return this.holding;
  }
  async confirm(): Promise<boolean> {
    this.confirms++;
    return this.confirmed;
  }
  signingCa(): CertificateAuthority | undefined {
    return this.holding ? this.ca : undefined;
  }
}

async function setup(t: Teardown, election: FakeElection, formed = true) {
  const dir = tempDir(t, 'ea-carole-');
  const store = new StateStore(dir);
  await store.init();
  const refusals: string[] = [];
  const role = new CaRole(store, config, silentLogger(), (who, reason) => refusals.push(`${who}: ${reason}`), election, () => ({ formed, enrollment }));
  return { dir, role, refusals };
}

/** Member 2 asks over its own node certificate for its own certificates again. */
async function memberRequest() {
  const key = await generateKeyPair();
  const m = viewMember(2);
  const caller: PeerCaller = { via: 'ca', commonName: m.name, fingerprint: 'AB', keyId: keyIdOfPublicKey(key.publicKeyPem), node: true, addresses: [m.address] };
  const request = { nodeCsr: createCsr(key, nodeSubjectNames(m.name, [m.address])), clientCsr: createCsr(key, clientSubjectNames(m.name)) };
  return { caller, request };
}

const gate = (holder: boolean): GateState => ({
  selfId: viewMember(1).nodeId,
  selfName: viewMember(1).name,
  selfAddress: viewMember(1).address,
  view,
  formed: true,
  holder,
  holderName: holder ? viewMember(1).name : viewMember(3).name,
});

t.test('after formation the elected holder signs with the CA it holds the role with', async (t) => {
  const ca = await createCa('unit', 365);
  const election = new FakeElection(true, true, ca, viewMember(1));
  const { role, dir } = await setup(t, election);
  const { caller, request } = await memberRequest();
  const answer = await role.serveEnroll(caller, gate(true), request);
  t.ok(verifyIssuedBy(answer.certificate, ca.certPem), 'signed by that CA');
  t.equal(answer.caCertificate, ca.certPem);
  t.equal(answer.initialClusterToken, enrollment.initialClusterToken, 'hands out the cluster token of its enrollment');
  t.equal(election.confirms, 1, 'asked etcd once, right before signing');
  t.notOk(existsSync(join(dir, 'ca.key')), 'wrote no CA to disk');
});

t.test('a former holder signs nothing, whatever it believed', async (t) => {
  const ca = await createCa('unit', 365);
  // Believes it holds the role (its lease ran out unnoticed), but etcd says otherwise.
  const stale = new FakeElection(true, false, ca, viewMember(1));
  const { role, refusals } = await setup(t, stale);
  const { caller, request } = await memberRequest();
  await t.rejects(role.serveEnroll(caller, gate(true), request), { code: 'EA_PEER_FORBIDDEN' }, 'refused');
  t.match(refusals.join('\n'), /not the CA holder/, 'and recorded');
  await t.rejects(role.holderFor(view), { code: 'EA_PEER_FORBIDDEN' }, 'no signer for any other request either');

  // Came back after a restart: another member holds the role now.
  const back = new FakeElection(false, false, undefined, viewMember(3));
  const again = await setup(t, back);
  await t.rejects(again.role.serveEnroll(caller, gate(false), request), { code: 'EA_PEER_FORBIDDEN', message: /not the CA holder; node3 is/ }, 'names the holder');
  await t.rejects(again.role.holderFor(view), { code: 'EA_PEER_FORBIDDEN', message: /node3 is/ });
  const none = await setup(t, new FakeElection(false, false, undefined, undefined));
  await t.rejects(none.role.holderFor(view), { message: /no member holds the CA role right now.*retry shortly/ }, 'no holder: says an election is under way');
});

t.test('a formed node never makes a CA, even when asked as holder without one', async (t) => {
  const election = new FakeElection(true, true, undefined, viewMember(1));
  const { role, dir } = await setup(t, election);
  await t.rejects(role.holderFor(view), { code: 'EA_PEER_FORBIDDEN' });
  t.notOk(existsSync(join(dir, 'ca.key')) || existsSync(join(dir, 'ca.crt')), 'no CA made');
});

t.test('before formation the view\'s lowest id makes the CA and signs, without asking etcd', async (t) => {
  const election = new FakeElection(false, false, undefined, undefined);
  const { role, dir } = await setup(t, election, false);
  const { caller, request } = await memberRequest();
  const answer = await role.serveEnroll(caller, { ...gate(true), formed: false }, request);
  t.ok(existsSync(join(dir, 'ca.key')), 'the CA was made');
  t.ok(verifyIssuedBy(answer.certificate, answer.caCertificate));
  t.equal(election.confirms, 0, 'no election before formation');
});
