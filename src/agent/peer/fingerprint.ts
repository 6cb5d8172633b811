import { X509Certificate } from 'node:crypto';

const cache = new Map<string, string>();

/** SHA-256 fingerprint of a PEM certificate in Node's format (AB:CD:…), cached: it is asked on every request. */
export function fingerprintOf(certPem: string): string {
  let fp = cache.get(certPem);
  if (!fp) {
    fp = new X509Certificate(certPem).fingerprint256;
    if (cache.size > 32) cache.clear();
    cache.set(certPem, fp);
  }
  return fp;
}
