import { X509Certificate } from 'node:crypto';

const cache = new Map<string, string>();

/**
 * SHA-256 fingerprint of a PEM certificate in Node's format (AB:CD:…), the same
 * text TLS reports as getPeerCertificate().fingerprint256, so the two compare
 * directly. The one place it is computed; cached, as the peer API asks for it
 * on every request.
 */
export function fingerprintOf(certPem: string): string {
  let fp = cache.get(certPem);
  if (!fp) {
    fp = new X509Certificate(certPem).fingerprint256;
    if (cache.size > 32) cache.clear();
    cache.set(certPem, fp);
  }
  return fp;
}
