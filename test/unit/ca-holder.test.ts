/**
 * The CA holder's signing with real keys and certificates: it signs only for
 * the identity the admission gate established (who may ask at all is tested
 * in admission.test.ts), only its own names and key, never a CA.
 */
import t from 'tap';
import forge from 'node-forge';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CaHolder } from '../../src/agent/bootstrap/ca-holder.js';
import type { Candidate } from '../../src/agent/peer/protocol.js';
import { StateStore } from '../../src/agent/bootstrap/state-store.js';
import {
  certificateInfo,
  clientSubjectNames,
  createCsr,
  generateKeyPair,
  keyIdOfPublicKey,
  nodeSubjectNames,
  verifyIssuedBy,
} from '../../src/pki/index.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir, viewMember } from '../helpers/fixtures.js';

const member = viewMember;
const view = [member(1), member(2)];
const options = { clusterName: 'unit', certValidityMs: 30 * 86_400_000, caValidityDays: 365 };

t.test('signs members, refuses strangers, foreign names and CA requests', async (t) => {
  const dir = tempDir(t, 'ea-holder-');
  const store = new StateStore(dir);
  await store.init();
  const holder = await CaHolder.open(store, view, options, silentLogger());
  t.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600, 'CA key 0600');

  const key = await generateKeyPair();
  const as = (m: Candidate, keyPem = key.publicKeyPem) => ({ nodeId: m.nodeId, name: m.name, addresses: [m.address], keyId: keyIdOfPublicKey(keyPem) });
  const clientCsr = createCsr(key, clientSubjectNames('node2'));
  const good = createCsr(key, nodeSubjectNames('node2', ['10.9.0.2']));
  const answer = holder.sign(as(member(2)), { nodeCsr: good, clientCsr });
  t.ok(verifyIssuedBy(answer.certificate, answer.caCertificate));
  t.same(certificateInfo(answer.certificate).extendedKeyUsage.sort(), ['clientAuth', 'serverAuth']);
  t.same(certificateInfo(answer.clientCertificate).extendedKeyUsage, ['clientAuth']);
  t.same(answer.view, view);

  const again = await CaHolder.open(store, view, options, silentLogger());
  t.equal(again.caCertPem, holder.caCertPem, 'reopening keeps the same CA');
  t.equal(again.sign(as(member(2)), { nodeCsr: good, clientCsr }).initialClusterToken, answer.initialClusterToken, 'and the same cluster token');

  const other = await generateKeyPair();
  t.throws(
    () => holder.sign(as(member(2), other.publicKeyPem), { nodeCsr: good, clientCsr }),
    { code: 'EA_PKI_CSR_REJECTED', message: /not the key node2 authenticated with/ },
    'a CSR for a key other than the caller\'s session key is refused',
  );

  const foreign = createCsr(key, nodeSubjectNames('node2', ['10.9.0.2', '10.9.0.1']));
  t.throws(() => holder.sign(as(member(2)), { nodeCsr: foreign, clientCsr }), { code: 'EA_PKI_CSR_REJECTED', message: /10\.9\.0\.1/ });

  const impersonation = createCsr(key, nodeSubjectNames('node1', ['10.9.0.1']));
  t.throws(() => holder.sign(as(member(2)), { nodeCsr: impersonation, clientCsr }), { code: 'EA_PKI_CSR_REJECTED' }, 'member 2 cannot get member 1 names');

  // A CSR that asks for CA:true (built by hand: our own createCsr never does).
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(key.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: 'node2' }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '10.9.0.2' }, { type: 2, value: 'node2' }] },
      ],
    },
  ]);
  csr.sign(forge.pki.privateKeyFromPem(key.privateKeyPem), forge.md.sha256.create());
  const caRequest = forge.pki.certificationRequestToPem(csr);
  t.throws(() => holder.sign(as(member(2)), { nodeCsr: caRequest, clientCsr }), { code: 'EA_PKI_CSR_REJECTED', message: /CA/ });
});
