import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../../util/atomic-write.js';
import { failpoint } from '../../util/failpoint.js';

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

export async function readNodePki(paths: PkiPaths): Promise<NodePki | undefined> {
  const [caPem, serverCertPem, serverKeyPem, clientCertPem, clientKeyPem] = await Promise.all(
    [paths.caCert, paths.serverCert, paths.serverKey, paths.clientCert, paths.clientKey].map(readFileIfExists),
  );
  if (!caPem || !serverCertPem || !serverKeyPem || !clientCertPem || !clientKeyPem) return undefined;
  return { caPem, serverCertPem, serverKeyPem, clientCertPem, clientKeyPem };
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
