import type { EtcdTls } from '../etcd/client.js';
import { createEphemeralIdentity, keyIdOfPublicKey, type TlsIdentity } from '../pki/index.js';
import { AgentError } from '../util/errors.js';
import { ensureKey } from './bootstrap/enrollment.js';
import type { NodeIdentity, StateStore } from './bootstrap/state-store.js';
import { readNodePki, type NodePki, type PkiPaths } from './files/pki-files.js';
import type { ServerTls } from './peer/server.js';
import type { CertificateStatus } from './status/model.js';
import { certificateStatus } from './status/report.js';

/**
 * What this node is and what it shows on the wire. Its node key
 * (pki/server.key, made at first start, never leaving the host) is the root of
 * its identity: the node id is that key's id, the self-signed certificate of
 * the token hello and the cluster-issued certificate both carry it.
 */
export class NodeCredentials {
  private nodePki: NodePki | undefined;
  private certs: CertificateStatus[] = [];

  private constructor(
    readonly identity: NodeIdentity,
    /** Id of the node key; equals nodeId except on a node that agreed on its view under an older random id. */
    readonly keyId: string,
    private readonly selfSigned: TlsIdentity,
    private readonly paths: PkiPaths,
  ) {}

  static async load(store: StateStore, paths: PkiPaths, name: string, enrolled: boolean): Promise<NodeCredentials> {
    const keyPem = await ensureKey(paths.serverKey);
    const keyId = keyIdOfPublicKey(keyPem);
    const identity = await store.identity(keyId);
    const credentials = new NodeCredentials(identity, keyId, await createEphemeralIdentity(name, keyPem), paths);
    if (enrolled) {
      const missing: string[] = [];
      const pki = await readNodePki(paths, missing);
      if (!pki) {
        throw new AgentError(
          'EA_PKI_MISSING',
          `this node enrolled earlier but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing or empty; restore ${missing.length === 1 ? 'it' : 'them'} from a backup (the agent will not re-enroll a node that may already be a member)`,
        );
      }
      credentials.setPki(pki);
    }
    return credentials;
  }

  get nodeId(): string {
    return this.identity.nodeId;
  }

  pki(): NodePki | undefined {
    return this.nodePki;
  }

  setPki(pki: NodePki): void {
    this.nodePki = pki;
    // Parsed once here, not on every status request.
    this.certs = certificateStatus([
      [this.paths.caCert, pki.caPem],
      [this.paths.serverCert, pki.serverCertPem],
      [this.paths.clientCert, pki.clientCertPem],
    ]);
  }

  /** The node's local admin client certificate (etcdctl.crt) for its own etcd; throws before enrollment. */
  adminTls(): EtcdTls {
    const pki = this.nodePki;
    if (!pki) throw new AgentError('EA_ADMIN_CERT_UNAVAILABLE', 'this node holds no cluster certificate yet');
    return { caPem: pki.caPem, certPem: pki.clientCertPem, keyPem: pki.clientKeyPem };
  }

  certificates(): CertificateStatus[] {
    return this.certs;
  }

  /** The certificate this node presents, as client and as server. */
  tls(): ServerTls {
    if (this.nodePki) return { keyPem: this.nodePki.serverKeyPem, certPem: this.nodePki.serverCertPem, caPem: this.nodePki.caPem };
    return { keyPem: this.selfSigned.keyPem, certPem: this.selfSigned.certPem };
  }
}
