/**
 * Hostile certificate requests: one row per case, each with the text its
 * refusal must contain. The request is for node `me` (viewMember(2)), whose
 * key is `key`; rows change one thing of a well-formed request.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { clientSubjectNames, createCsr, generateKeyPair, keyIdOfPublicKey, nodeSubjectNames, type KeyPairPem } from '../../src/pki/index.js';
import { viewMember } from '../helpers/fixtures.js';

export const me = viewMember(2);
const key = await generateKeyPair();
const otherKey = await generateKeyPair();
export const identity = { nodeId: me.nodeId, name: me.name, addresses: [me.address], keyId: keyIdOfPublicKey(key.publicKeyPem) };

/** A CSR built with forge directly, to ask for what createCsr never would. */
function raw(k: KeyPairPem, subject: { name: string; value: string }[], extensions: object[], md: forge.md.MessageDigest = forge.md.sha256.create()): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(k.publicKeyPem);
  csr.setSubject(subject);
  if (extensions.length > 0) csr.setAttributes([{ name: 'extensionRequest', extensions }]);
  csr.sign(forge.pki.privateKeyFromPem(k.privateKeyPem) as forge.pki.rsa.PrivateKey, md);
  return forge.pki.certificationRequestToPem(csr);
}
const cn = (value: string) => [{ name: 'commonName', value }];
const san = (...altNames: object[]): object => ({ name: 'subjectAltName', altNames });
const dns = (value: string): object => ({ type: 2, value });
const ipBytes = (bytes: number[]): object => ({ type: 7, value: Buffer.from(bytes).toString('binary') });
const OWN = ipBytes([10, 9, 0, 2]);
const node = (extensions: object[], k = key, subject = cn(me.name), md?: forge.md.MessageDigest) => raw(k, subject, extensions, md);

const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
const smallKey: KeyPairPem = {
  privateKeyPem: small.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  publicKeyPem: small.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
};
export const good = createCsr(key, nodeSubjectNames(me.name, [me.address]));
export const goodClient = createCsr(key, clientSubjectNames(me.name));
const tamper = (pem: string): string => {
  const lines = pem.trim().split('\n');
  const mid = Math.floor(lines.length / 2);
  const line = lines[mid] ?? '';
  lines[mid] = (line[5] === 'A' ? 'B' : 'A') + line.slice(1, 5) + (line[5] === 'A' ? 'B' : 'A') + line.slice(6);
  return `${lines.join('\n')}\n`;
};
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

export interface CsrCase {
  name: string;
  nodeCsr?: string;
  clientCsr?: string;
  says: string;
}

export const CSR_CASES: readonly CsrCase[] = [
  { name: 'node CSR asks to be a CA', nodeCsr: node([{ name: 'basicConstraints', cA: true, critical: true }, san(dns(me.name), OWN)]), says: 'CA' },
  { name: 'node CSR for another name', nodeCsr: node([san(dns('node3'), OWN)], key, cn('node3')), says: 'node3' },
  { name: 'node CSR with an empty common name', nodeCsr: node([san(OWN)], key, cn('')), says: 'common name' },
  { name: 'node CSR with two common names', nodeCsr: node([san(OWN)], key, [...cn(me.name), ...cn('node3')]), says: 'common names' },
  { name: 'node CSR with a control character in the name', nodeCsr: node([san(OWN)], key, cn('node2\u001b[0m')), says: 'common name' },
  { name: 'node CSR without a common name', nodeCsr: node([san(OWN)], key, [{ name: 'organizationName', value: 'x' }]), says: 'common name' },
  { name: 'node CSR for a foreign DNS name', nodeCsr: node([san(dns(me.name), dns('evil.example'), OWN)]), says: 'evil.example' },
  { name: 'node CSR for a wildcard DNS name', nodeCsr: node([san(dns('*'), OWN)]), says: '*' },
  { name: 'node CSR with a NUL in a DNS name', nodeCsr: node([san(dns('node2\0.evil'), OWN)]), says: 'DNS' },
  { name: 'node CSR for a foreign IP', nodeCsr: node([san(OWN, ipBytes([10, 9, 0, 3]))]), says: '10.9.0.3' },
  { name: 'node CSR for 0.0.0.0', nodeCsr: node([san(OWN, ipBytes([0, 0, 0, 0]))]), says: '0.0.0.0' },
  { name: 'node CSR with a 5-byte IP entry', nodeCsr: node([san(OWN, ipBytes([10, 9, 0, 2, 1]))]), says: 'IP address' },
  { name: 'node CSR with only loopback addresses', nodeCsr: node([san(ipBytes([127, 0, 0, 1]))]), says: 'none of the requester' },
  { name: 'node CSR with an email SAN', nodeCsr: node([san(OWN, { type: 1, value: 'root@node2' })]), says: 'email' },
  { name: 'node CSR with a URI SAN', nodeCsr: node([san(OWN, { type: 6, value: 'spiffe://cluster/node2' })]), says: 'uri' },
  { name: 'node CSR for another key', nodeCsr: node([san(dns(me.name), OWN)], otherKey), says: 'key' },
  { name: 'node CSR with a 1024-bit key', nodeCsr: node([san(dns(me.name), OWN)], smallKey), says: '1024' },
  { name: 'node CSR signed with SHA-1', nodeCsr: node([san(dns(me.name), OWN)], key, cn(me.name), forge.md.sha1.create()), says: 'algorithm' },
  { name: 'node CSR with a broken signature', nodeCsr: tamper(good), says: 'PKCS' },
  { name: 'node CSR requesting an extension twice', nodeCsr: node([san(OWN), san(OWN)]), says: 'twice' },
  { name: 'node CSR that is not PEM', nodeCsr: 'hello, please sign me', says: 'PEM' },
  { name: 'node CSR that is a certificate', nodeCsr: good.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE'), says: 'CERTIFICATE' },
  { name: 'node CSR that is a private key', nodeCsr: key.privateKeyPem, says: 'PRIVATE KEY' },
  { name: 'two CSRs in one field', nodeCsr: good + good, says: '2 PEM blocks' },
  { name: 'an oversized CSR', nodeCsr: good + 'A'.repeat(20_000), says: 'bytes' },
  { name: 'an empty CSR', nodeCsr: '', says: 'PEM' },
  { name: 'node CSR with an EC key', nodeCsr: (() => { try { return raw({ privateKeyPem: ecKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem: ecKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() }, cn(me.name), []); } catch { return '-----BEGIN CERTIFICATE REQUEST-----\nMIIBFTCBvAIBADAQMQ4wDAYDVQQDDAVub2RlMjBZMBMGByqGSM49AgEGCCqGSM49\n-----END CERTIFICATE REQUEST-----\n'; } })(), says: 'PKCS' },
  { name: 'client CSR with the node name as CN', clientCsr: raw(key, cn(me.name), []), says: `etcdctl@${me.name}` },
  { name: 'client CSR with a DNS SAN', clientCsr: raw(key, cn(`etcdctl@${me.name}`), [san(dns(me.name))]), says: 'subject alternative' },
  { name: 'client CSR with an IP SAN', clientCsr: raw(key, cn(`etcdctl@${me.name}`), [san(OWN)]), says: 'subject alternative' },
  { name: 'client CSR asking to be a CA', clientCsr: raw(key, cn(`etcdctl@${me.name}`), [{ name: 'basicConstraints', cA: true }]), says: 'CA' },
  { name: 'client CSR for another member', clientCsr: raw(key, cn('etcdctl@node3'), []), says: 'etcdctl@node3' },
];

