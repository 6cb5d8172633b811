import { constants, createPrivateKey, privateEncrypt, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/**
 * Small glue between node's crypto (keys, PEM with \n) and node-forge
 * (CSRs, certificate building). Kept here so the quirks live in one place.
 */

/** Certificates start 5 minutes in the past so a peer whose clock lags a little still accepts them. */
export const BACKDATE_MS = 5 * 60 * 1000;
export const DAY_MS = 24 * 60 * 60 * 1000;

/** forge writes PEM with CRLF; everything else we write (and compare) uses LF. */
export function normalizePem(pem: string): string {
  return pem.replace(/\r\n/g, '\n');
}

/** DER DigestInfo header for a SHA-256 digest (RFC 8017, 9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** What forge's certificate and CSR `sign(key, md)` ask of the key: only `key.sign(md)`. */
export interface ForgeSigner {
  sign(md: forge.md.MessageDigest): string;
}

/**
 * A signing key for forge's `cert.sign` and `csr.sign` whose RSA operation is
 * node's native one. forge's own is pure JavaScript: 70–150 ms a signature
 * here (seconds without the JIT), on the path of every start (the ephemeral
 * identity), every CSR and every certificate the CA signs; native takes about
 * 1 ms. RSASSA-PKCS1-v1_5 is deterministic, so the bytes are the same as
 * forge's (test/unit/native-signer.test.ts).
 */
export function nativeSigner(privateKeyPem: string): ForgeSigner {
  const key = createPrivateKey(privateKeyPem);
  return {
    sign(md: forge.md.MessageDigest): string {
      if (md.algorithm !== 'sha256') throw new Error(`nativeSigner signs SHA-256 digests only, not ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      // PKCS#1 v1.5 type-1 padding over DigestInfo: exactly an RSASSA-PKCS1-v1_5 signature.
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, digest])).toString('binary');
    },
  };
}

/** forge's sign() takes its own key type; it calls nothing but `sign(md)` on it (node-forge lib/x509.js). */
export function asForgeKey(signer: ForgeSigner): forge.pki.rsa.PrivateKey {
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

export function forgePublicKey(pem: string): forge.pki.rsa.PublicKey {
  return forge.pki.publicKeyFromPem(pem) as forge.pki.rsa.PublicKey;
}

/**
 * 16 random bytes as a positive, minimally encoded DER INTEGER: forge writes
 * the hex bytes verbatim, so a set top bit would make the serial negative and
 * a leading zero byte would be a non-minimal encoding that Go (etcd) rejects.
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

/**
 * forge encodes subject values as PrintableString unless told otherwise;
 * that alphabet has no '@' or '_', and Go's parser refuses such certificates.
 */
export function commonNameAttribute(value: string): forge.pki.CertificateField {
  // @types/node-forge types valueTagClass as asn1.Class, but forge reads it as an asn1.Type tag.
  const utf8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  return { name: 'commonName', value, valueTagClass: utf8 };
}

/** notBefore is backdated by BACKDATE_MS; notAfter is `validityMs` after `now`. */
export function validityWindow(now: Date, validityMs: number): { notBefore: Date; notAfter: Date } {
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
  };
}
