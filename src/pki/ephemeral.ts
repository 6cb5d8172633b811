import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import { fingerprintOf } from './fingerprint.js';
import { generateKeyPair } from './keys.js';
import {
  DAY_MS,
  asForgeKey,
  commonNameAttribute,
  forgePublicKey,
  nativeSigner,
  normalizePem,
  randomSerialHex,
  validityWindow,
} from './forge-util.js';

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
  fingerprint256: string;
}

const EPHEMERAL_VALIDITY_DAYS = 30;

/**
 * The self-signed certificate an agent uses on the peer API before it is
 * enrolled, made afresh at each start over the node's persistent key (whose
 * hash is the node id, see key-id.ts). Nobody trusts it through a CA: the
 * hello proof binds its fingerprint to the join token instead, and the key
 * binds it to the node id, so it needs only to be acceptable to node's TLS as
 * both server and client certificate.
 */
export async function createEphemeralIdentity(commonName: string, keyPem?: string): Promise<TlsIdentity> {
  const key = keyPem
    ? { privateKeyPem: keyPem, publicKeyPem: createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString() }
    : await generateKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(key.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  Object.assign(cert.validity, validityWindow(new Date(), EPHEMERAL_VALIDITY_DAYS * DAY_MS));
  const name = [commonNameAttribute(commonName)];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(asForgeKey(nativeSigner(key.privateKeyPem)), forge.md.sha256.create());
  const certPem = normalizePem(forge.pki.certificateToPem(cert));
  return { keyPem: key.privateKeyPem, certPem, fingerprint256: fingerprintOf(certPem) };
}
