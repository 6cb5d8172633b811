import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { defineError } from '../../util/errors.js';
import { readFileIfExists, writeFileAtomic } from '../../util/atomic-write.js';
import { failpoint } from '../../util/failpoint.js';
import type { EtcdTls } from '../../etcd/client.js';

/** The certificate files in the pki dir (DESIGN.md: /etc/etcd/pki). */
export interface PkiPaths {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'etcdctl.crt'),
    clientKey: join(dir, 'etcdctl.key'),
  };
}

export interface NodePki {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

/** The admin client certificate as etcd client TLS (the node's own etcd, and the cluster's). */
export function adminTlsOf(pki: NodePki): EtcdTls {
  return { caPem: pki.caPem, certPem: pki.clientCertPem, keyPem: pki.clientKeyPem };
}

export const PkiFileInvalid = defineError('EA_PKI_FILE_INVALID', (file: string, why: string) => `${file} is unusable (${why}); it was left as it is — restore it from a backup`);

/**
 * This node's keys and certificates, each checked: a key that parses, a
 * certificate that parses, each certificate for its own key and issued by the
 * CA. Returns undefined when a file is absent (or empty); `missing` then
 * names them. A file that is present but unusable throws, naming it.
 */
export async function readNodePki(paths: PkiPaths, missing: string[] = []): Promise<NodePki | undefined> {
  const files = [paths.caCert, paths.serverCert, paths.serverKey, paths.clientCert, paths.clientKey];
  const texts = await Promise.all(files.map(readFileIfExists));
  files.forEach((f, i) => {
    if (!texts[i]) missing.push(f);
  });
  const [caPem, serverCertPem, serverKeyPem, clientCertPem, clientKeyPem] = texts;
  if (!caPem || !serverCertPem || !serverKeyPem || !clientCertPem || !clientKeyPem) return undefined;
  const ca = certificateOf(paths.caCert, caPem);
  for (const [certFile, certPem, keyFile, keyPem] of [
    [paths.serverCert, serverCertPem, paths.serverKey, serverKeyPem],
    [paths.clientCert, clientCertPem, paths.clientKey, clientKeyPem],
  ] as const) {
    const cert = certificateOf(certFile, certPem);
    if (!cert.checkPrivateKey(privateKeyOf(keyFile, keyPem))) throw PkiFileInvalid(certFile, `it is not the certificate of ${keyFile}`);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw PkiFileInvalid(certFile, `it is not issued by the CA in ${paths.caCert}`);
  }
  return { caPem, serverCertPem, serverKeyPem, clientCertPem, clientKeyPem };
}

/** A private key in PEM, or EA_PKI_FILE_INVALID naming the file. */
export function privateKeyOf(file: string, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw PkiFileInvalid(file, `not a readable PEM private key: ${(err as Error).message}`);
  }
}

function certificateOf(file: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw PkiFileInvalid(file, `not a readable PEM certificate: ${(err as Error).message}`);
  }
}

/** Keys 0600; certificates world-readable. Keys first, so a cert never points at a missing key. */
export async function writeNodePki(paths: PkiPaths, pki: NodePki): Promise<void> {
  const opts = { dirMode: 0o755 };
  await writeFileAtomic(paths.serverKey, pki.serverKeyPem, { ...opts, mode: 0o600 });
  await writeFileAtomic(paths.clientKey, pki.clientKeyPem, { ...opts, mode: 0o600 });
  await writeFileAtomic(paths.caCert, pki.caPem, { ...opts, mode: 0o644 });
  failpoint('pki-ca-cert-written');
  await writeFileAtomic(paths.serverCert, pki.serverCertPem, { ...opts, mode: 0o644 });
  failpoint('pki-server-cert-written');
  await writeFileAtomic(paths.clientCert, pki.clientCertPem, { ...opts, mode: 0o644 });
}
