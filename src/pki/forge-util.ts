import { randomBytes } from 'node:crypto';
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

/** forge reads PKCS#8 ("PRIVATE KEY") as well as PKCS#1 PEM. */
export function forgePrivateKey(pem: string): forge.pki.rsa.PrivateKey {
  return forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
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
