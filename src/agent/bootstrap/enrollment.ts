import { createPublicKey } from 'node:crypto';
import {
  certificateInfo,
  clientSubjectNames,
  createCsr,
  generateKeyPair,
  keyMatchesCertificate,
  nodeSubjectNames,
  verifyIssuedBy,
} from '../../pki/index.js';
import { readFileIfExists, writeFileAtomic } from '../../util/atomic-write.js';
import { AgentError, defineError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';
import type { Candidate, EnrollRequest, EnrollResponse, View } from '../peer/protocol.js';
import { caHolderOf, sameView } from './election.js';
import type { Enrollment } from './state-store.js';
import { privateKeyOf, writeNodePki, type NodePki, type PkiPaths } from '../files/pki-files.js';

export const EnrollmentAnswerInvalid = defineError(
  'EA_ENROLL_ANSWER_INVALID',
  (why: string) => `the CA holder's answer cannot be used: ${why}; the agent will ask again`,
);

export interface PendingEnrollment {
  request: EnrollRequest;
  serverKeyPem: string;
  clientKeyPem: string;
}

/**
 * Makes (or reuses) this node's two private keys and their CSRs. The keys are
 * written to the pki dir (0600) before anything is sent, so a restart reuses
 * them; they never leave the host.
 */
export async function prepareEnrollment(paths: PkiPaths, name: string, addresses: string[]): Promise<PendingEnrollment> {
  const serverKeyPem = await ensureKey(paths.serverKey);
  failpoint('pki-server-key-written');
  const clientKeyPem = await ensureKey(paths.clientKey);
  failpoint('pki-keys-written');
  const serverPublic = publicOf(serverKeyPem);
  const clientPublic = publicOf(clientKeyPem);
  return {
    serverKeyPem,
    clientKeyPem,
    request: {
      nodeCsr: createCsr({ privateKeyPem: serverKeyPem, publicKeyPem: serverPublic }, nodeSubjectNames(name, addresses)),
      clientCsr: createCsr({ privateKeyPem: clientKeyPem, publicKeyPem: clientPublic }, clientSubjectNames(name)),
    },
  };
}

/** Checks the holder's answer against our keys and writes the certificates. */
export async function completeEnrollment(paths: PkiPaths, pending: PendingEnrollment, answer: EnrollResponse): Promise<NodePki> {
  if (!verifyIssuedBy(answer.certificate, answer.caCertificate)) throw EnrollmentAnswerInvalid('node certificate is not signed by the CA sent with it');
  if (!verifyIssuedBy(answer.clientCertificate, answer.caCertificate)) throw EnrollmentAnswerInvalid('client certificate is not signed by the CA sent with it');
  if (!keyMatchesCertificate(pending.serverKeyPem, answer.certificate)) throw EnrollmentAnswerInvalid('node certificate is not for our key');
  if (!keyMatchesCertificate(pending.clientKeyPem, answer.clientCertificate)) throw EnrollmentAnswerInvalid('client certificate is not for our key');
  if (!certificateInfo(answer.caCertificate).isCa) throw EnrollmentAnswerInvalid('the CA certificate is not a CA');
  const pki: NodePki = {
    caPem: answer.caCertificate,
    serverCertPem: answer.certificate,
    serverKeyPem: pending.serverKeyPem,
    clientCertPem: answer.clientCertificate,
    clientKeyPem: pending.clientKeyPem,
  };
  await writeNodePki(paths, pki);
  return pki;
}

/** Reads the private key at `path`, or makes one there (0600) first. */
export async function ensureKey(path: string): Promise<string> {
  const existing = await readFileIfExists(path);
  if (existing !== undefined) {
    // Never made again over an existing file: the node id is this key's id, and a
    // damaged key is the operator's to restore (our own writes are atomic, so
    // nothing of ours leaves a half-written key).
    privateKeyOf(path, existing);
    return existing;
  }
  const pair = await generateKeyPair();
  await writeFileAtomic(path, pair.privateKeyPem, { mode: 0o600 });
  return pair.privateKeyPem;
}

function publicOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * The enrollment client: asks the CA holder (over the peer API, or this
 * node's own CA role when it is the holder) to sign this node's CSRs, checks
 * that the answer is for the agreed view, and writes the certificates.
 */
export async function enrollWithHolder(
  paths: PkiPaths,
  self: { nodeId: string; name: string; address: string; clusterName: string },
  view: View,
  ask: (holder: Candidate, request: EnrollRequest) => Promise<EnrollResponse>,
): Promise<{ pki: NodePki; enrollment: Enrollment }> {
  const holder = caHolderOf(view);
  const pending = await prepareEnrollment(paths, self.name, [self.address]);
  const answer = await ask(holder, pending.request);
  if (!sameView(answer.view, view) || answer.clusterName !== self.clusterName) {
    throw new AgentError('EA_ENROLL_VIEW_MISMATCH', `the CA holder ${holder.name} answered for different initial members; retrying`);
  }
  const pki = await completeEnrollment(paths, pending, answer);
  const enrollment: Enrollment = {
    clusterName: answer.clusterName,
    initialClusterToken: answer.initialClusterToken,
    view,
    caFingerprint: certificateInfo(answer.caCertificate).fingerprint256,
    enrolledAt: new Date().toISOString(),
  };
  return { pki, enrollment };
}
