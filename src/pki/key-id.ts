import { X509Certificate, createHash, createPublicKey } from 'node:crypto';

/**
 * A node's id is the first 128 bits of SHA-256 over the DER SubjectPublicKeyInfo
 * of its node key (pki/server.key). Whoever claims an id must therefore hold
 * that key: a TLS session, a CSR or a certificate carries the public half, and
 * the id is recomputed from it, never taken from what a peer says.
 */
export function keyIdOfPublicKey(pem: string): string {
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 32);
}

const byCert = new Map<string, string>();

/** Key id of a certificate (PEM or DER, e.g. a TLS peer certificate's `raw`); cached, it is asked per request. */
export function keyIdOfCertificate(cert: string | Buffer): string {
  const cacheKey = typeof cert === 'string' ? cert : cert.toString('base64');
  let id = byCert.get(cacheKey);
  if (!id) {
    const pub = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    id = keyIdOfPublicKey(pub);
    if (byCert.size > 256) byCert.clear();
    byCert.set(cacheKey, id);
  }
  return id;
}
