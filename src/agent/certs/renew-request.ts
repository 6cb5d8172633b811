/**
 * The requesting side of renewal: CSRs over the keys this node already has,
 * the CA holder's answer checked, the certificates replaced atomically.
 *
 * Keys are kept. The server key must be (the node id is its key id, and the
 * CA signs a node certificate only for the caller's current key). The admin
 * client key is kept too: etcdctl and other readers pick up key and
 * certificate as two files at any moment, and only an unchanged key makes
 * each single rename consistent on its own.
 */
import { createPublicKey } from 'node:crypto';
import { clientSubjectNames, createCsr, keyMatchesCertificate, nodeSubjectNames, verifyIssuedBy } from '../../pki/index.js';
import { defineError, describeError, isAgentError } from '../../util/errors.js';
import { EnrollmentAnswerInvalid } from '../bootstrap/enrollment.js';
import { writeNodePki, type NodePki, type PkiPaths } from '../files/pki-files.js';
import type { Candidate, RenewRequest, RenewResponse } from '../peer/protocol.js';

export const NoCaHolderAnswered = defineError(
  'EA_CERT_NO_CA',
  (tried: string) => `no CA holder signed this node's renewal (${tried}); the agent tries again shortly`,
);

export function renewRequest(current: NodePki, name: string, address: string): RenewRequest {
  const pair = (privateKeyPem: string) => ({
    privateKeyPem,
    publicKeyPem: createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString(),
  });
  return {
    nodeCsr: createCsr(pair(current.serverKeyPem), nodeSubjectNames(name, [address])),
    clientCsr: createCsr(pair(current.clientKeyPem), clientSubjectNames(name)),
  };
}

/**
 * Checks the answer against what this node has and writes it: the same CA
 * (etcd never reloads its trusted-CA file, so certificates from another CA
 * would cut this node off), our own keys. Each file is replaced atomically;
 * keys and ca.crt are unchanged and therefore not rewritten.
 */
export async function completeRenewal(paths: PkiPaths, current: NodePki, answer: RenewResponse): Promise<NodePki> {
  if (answer.caCertificate.trim() !== current.caPem.trim()) {
    throw EnrollmentAnswerInvalid('it comes from a different CA than this node trusts (etcd never reloads its CA file)');
  }
  if (!verifyIssuedBy(answer.certificate, current.caPem)) throw EnrollmentAnswerInvalid('the node certificate is not signed by the cluster CA');
  if (!verifyIssuedBy(answer.clientCertificate, current.caPem)) throw EnrollmentAnswerInvalid('the client certificate is not signed by the cluster CA');
  if (!keyMatchesCertificate(current.serverKeyPem, answer.certificate)) throw EnrollmentAnswerInvalid('the node certificate is not for our key');
  if (!keyMatchesCertificate(current.clientKeyPem, answer.clientCertificate)) throw EnrollmentAnswerInvalid('the client certificate is not for our key');
  const next: NodePki = { ...current, serverCertPem: answer.certificate, clientCertPem: answer.clientCertificate };
  await writeNodePki(paths, next);
  return next;
}

/**
 * Asks each candidate in turn (the CA holder first) until one signs. A
 * member that does not hold the CA refuses at once, so a stale idea of who
 * holds it costs one round trip, not a failed renewal.
 */
export async function askCandidates<T>(candidates: Candidate[], ask: (c: Candidate) => Promise<T>): Promise<{ answer: T; from: Candidate }> {
  const tried: string[] = [];
  for (const c of candidates) {
    try {
      return { answer: await ask(c), from: c };
    } catch (err) {
      tried.push(`${c.name} (${c.address}): ${isAgentError(err) ? err.message : describeError(err)}`);
    }
  }
  throw NoCaHolderAnswered(tried.length > 0 ? tried.join('; ') : 'no CA holder or member is known to ask');
}

/** Candidates without duplicates or this node, in order. */
export function candidateList(selfId: string, ...groups: (Candidate | undefined)[][]): Candidate[] {
  const seen = new Set<string>([selfId]);
  const out: Candidate[] = [];
  for (const group of groups) {
    for (const c of group) {
      if (!c || seen.has(c.nodeId)) continue;
      seen.add(c.nodeId);
      out.push(c);
    }
  }
  return out;
}
