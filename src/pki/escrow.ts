/**
 * The CA key escrow: the cluster CA's private key, sealed under a key derived
 * from the join token, so that it can live in etcd (`ca/escrow`) and any
 * member holding the token can take over signing when the CA holder's host
 * dies. Pure functions; the byte format is documented in docs/protocol.md
 * ("CA key escrow"), and a change to it needs a new version byte.
 *
 *   sealed = version(1) ‖ salt(16) ‖ nonce(12) ‖ ciphertext(n) ‖ tag(16)
 *   key    = HKDF-SHA256(ikm = token, salt, info = "etcd-agent ca-escrow v1\0" + cluster)
 *   AES-256-GCM(key, nonce, plaintext = CA key PEM,
 *               aad = version ‖ salt ‖ nonce ‖ "\0" + cluster + "\0" + SHA-256(CA cert DER))
 *
 * The token is at least ~120 bits strong (pki/token.ts refuses weaker ones),
 * so HKDF alone suffices: no password stretching is needed to make guessing
 * it hopeless. The additional data binds the blob to the cluster and to the
 * CA certificate stored beside it: the certificate cannot be swapped without
 * the blob failing to open.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, X509Certificate } from 'node:crypto';
import { keyMatchesCertificate } from './cert-info.js';
import { defineError } from '../util/errors.js';

// Not in ./errors.ts: those are the signing policy's codes, which the peer API answers with 403;
// these are this node's own findings about what it read from etcd.
export const EscrowUnreadable = defineError(
  'EA_CA_ESCROW_UNREADABLE',
  (reason: string) =>
    `The CA key escrow in etcd is unusable: ${reason}. ` +
    'It is not used; if it is damaged, delete it (`etcdctl del /etcd-agent/<cluster>/ca/escrow`) and the CA holder seals it again.',
);

export const EscrowSealed = defineError(
  'EA_CA_ESCROW_SEALED',
  () =>
    'The CA key escrow in etcd does not open with this node\'s join token: the token differs from the one it was sealed with ' +
    '(or the cluster name), or its bytes or the CA certificate beside it were changed. ' +
    'Give this node the same join token as the member that sealed it (`cluster.tokenFile`); this node meanwhile does not take the CA role.',
);

export const ESCROW_VERSION = 1;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + SALT_BYTES + NONCE_BYTES;
/** A CA key PEM is a few kilobytes; anything far bigger is not an escrow. */
const MAX_SEALED_BYTES = 16 * 1024;
const INFO_LABEL = 'etcd-agent ca-escrow v1';

/** What is stored at `ca/escrow` (JSON): the CA certificate in the clear (it is public) and the sealed key. */
export interface EscrowRecord {
  caCertificate: string;
  /** base64 of the sealed bytes above. */
  sealedKey: string;
  sealedAt: string;
  /** Node id of the agent that sealed it. */
  sealedBy: string;
}

function deriveKey(token: string, clusterName: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), salt, `${INFO_LABEL}\0${clusterName}`, 32));
}

function certDigest(certPem: string): Buffer {
  let der: Buffer;
  try {
    der = new X509Certificate(certPem).raw;
  } catch {
    throw EscrowUnreadable('its CA certificate is not a readable PEM certificate');
  }
  return createHash('sha256').update(der).digest();
}

function additionalData(header: Buffer, clusterName: string, certPem: string): Buffer {
  return Buffer.concat([header, Buffer.from(`\0${clusterName}\0`, 'utf8'), certDigest(certPem)]);
}

/** Seals the CA key (PEM) for the cluster, bound to its certificate. */
export function sealCaKey(ca: { certPem: string; keyPem: string }, token: string, clusterName: string): Buffer {
  if (!keyMatchesCertificate(ca.keyPem, ca.certPem)) throw EscrowUnreadable('the CA key to seal is not the key of the CA certificate');
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const header = Buffer.concat([Buffer.from([ESCROW_VERSION]), salt, nonce]);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(token, clusterName, salt), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, clusterName, ca.certPem));
  const ciphertext = Buffer.concat([cipher.update(ca.keyPem, 'utf8'), cipher.final()]);
  return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
}

/**
 * Opens a sealed CA key: returns the key PEM, or throws EA_CA_ESCROW_UNREADABLE
 * (not an escrow of a version this agent reads: truncated, unknown version)
 * or EA_CA_ESCROW_SEALED (does not open: another token or cluster, another
 * certificate, or changed bytes; AES-GCM cannot tell these apart).
 */
export function openCaKey(sealed: Buffer, certPem: string, token: string, clusterName: string): string {
  if (sealed.length === 0) throw EscrowUnreadable('it is empty');
  const version = sealed[0];
  if (version !== ESCROW_VERSION) {
    throw EscrowUnreadable(`it has format version ${String(version)}, and this agent reads version ${ESCROW_VERSION} only (an agent of another version sealed it?)`);
  }
  if (sealed.length <= HEADER_BYTES + TAG_BYTES) {
    throw EscrowUnreadable(`it is truncated (${sealed.length} bytes; a sealed key is more than ${HEADER_BYTES + TAG_BYTES})`);
  }
  if (sealed.length > MAX_SEALED_BYTES) throw EscrowUnreadable(`it is ${sealed.length} bytes, more than a sealed CA key can be`);
  const header = sealed.subarray(0, HEADER_BYTES);
  const salt = sealed.subarray(1, 1 + SALT_BYTES);
  const nonce = sealed.subarray(1 + SALT_BYTES, HEADER_BYTES);
  const ciphertext = sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(token, clusterName, salt), nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(header, clusterName, certPem));
  decipher.setAuthTag(tag);
  let keyPem: string;
  try {
    keyPem = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw EscrowSealed();
  }
  // Authenticated, so only a sealer with the token could have put a wrong key here; refuse it all the same.
  if (!keyMatchesCertificate(keyPem, certPem)) throw EscrowUnreadable('the sealed key is not the key of the CA certificate beside it');
  return keyPem;
}

/** The record stored in etcd for a CA, sealed now by `sealedBy`. */
export function escrowRecord(ca: { certPem: string; keyPem: string }, token: string, clusterName: string, sealedBy: string): EscrowRecord {
  return {
    caCertificate: ca.certPem,
    sealedKey: sealCaKey(ca, token, clusterName).toString('base64'),
    sealedAt: new Date().toISOString(),
    sealedBy,
  };
}

/** Parses the JSON stored at `ca/escrow`; throws EA_CA_ESCROW_UNREADABLE naming what is wrong. */
export function parseEscrowRecord(text: string): EscrowRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw EscrowUnreadable('it is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw EscrowUnreadable('it is not a JSON object');
  const v = value as Record<string, unknown>;
  for (const field of ['caCertificate', 'sealedKey', 'sealedAt', 'sealedBy'] as const) {
    if (typeof v[field] !== 'string') throw EscrowUnreadable(`its field "${field}" is missing or not a string`);
  }
  const record = v as unknown as EscrowRecord;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(record.sealedKey)) throw EscrowUnreadable('its field "sealedKey" is not base64');
  return record;
}

/** Opens a stored record: the CA certificate and key. */
export function openEscrowRecord(record: EscrowRecord, token: string, clusterName: string): { certPem: string; keyPem: string } {
  const keyPem = openCaKey(Buffer.from(record.sealedKey, 'base64'), record.caCertificate, token, clusterName);
  return { certPem: record.caCertificate, keyPem };
}

/** The certificates in a PEM bundle (ca.crt), as SHA-256 fingerprints. */
export function bundleFingerprints(bundlePem: string): string[] {
  const blocks = bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const out: string[] = [];
  for (const block of blocks) {
    try {
      out.push(new X509Certificate(block).fingerprint256);
    } catch {
      // An unreadable block trusts nothing; it cannot make a CA acceptable.
    }
  }
  return out;
}

/**
 * Whether `caCertPem` is a certificate this node's etcd trusts: one of the
 * certificates of its ca.crt. etcd never reloads its trusted-CA file, so a
 * node may only sign with a CA its members already trust (normally ca.crt is
 * exactly that one certificate; during a CA rotation it is a bundle).
 */
export function trustedBy(caCertPem: string, trustedBundlePem: string): boolean {
  let fp: string;
  try {
    fp = new X509Certificate(caCertPem).fingerprint256;
  } catch {
    return false;
  }
  return bundleFingerprints(trustedBundlePem).includes(fp);
}
