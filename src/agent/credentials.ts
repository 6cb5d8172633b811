import { stat } from 'node:fs/promises';
import type { EtcdTls } from '../etcd/client.js';
import { certificateInfo, createEphemeralIdentity, keyIdOfPublicKey, leafLifetime, type TlsIdentity } from '../pki/index.js';
import { AgentError } from '../util/errors.js';
import { ensureKey } from './bootstrap/enrollment.js';
import type { NodeIdentity, StateStore } from './bootstrap/state-store.js';
import { adminTlsOf, readNodePki, type NodePki, type PkiPaths } from './files/pki-files.js';
import type { ServerTls } from './peer/server.js';

/** One certificate file of this node, parsed once when it is loaded. */
export interface CertificateFact {
  file: string;
  /** ca: the cluster CA (never renewed by the agent); server: serving + peer; client: the local admin client. */
  kind: 'ca' | 'server' | 'client';
  issuedAt: Date;
  notAfter: Date;
  lifetimeMs: number;
  /** When this node wrote it, by this node's clock (the file's mtime when loaded at start); renewal counts from it too. */
  receivedAt: Date;
  fingerprint: string;
}

/** The mtimes of the leaf certificate files loaded at start (undefined: unreadable). */
export interface FileTimes {
  server: Date | undefined;
  client: Date | undefined;
}

/**
 * What this node is and what it shows on the wire. Its node key
 * (pki/server.key, made at first start, never leaving the host) is the root of
 * its identity: the node id is that key's id, the self-signed certificate of
 * the token hello and the cluster-issued certificate both carry it.
 */
export class NodeCredentials {
  private nodePki: NodePki | undefined;
  private facts: CertificateFact[] = [];

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
      credentials.setPki(pki, await receivedFromFiles(paths));
    }
    return credentials;
  }

  get nodeId(): string {
    return this.identity.nodeId;
  }

  pki(): NodePki | undefined {
    return this.nodePki;
  }

  /**
   * Fresh certificates (no `loaded`) were received now. Ones loaded from disk
   * at start were received at their file's mtime, but never later than they
   * were signed: a file copied or restored later must not push renewal back.
   */
  setPki(pki: NodePki, loaded?: FileTimes): void {
    const now = new Date();
    this.nodePki = pki;
    // Parsed once here, not on every status request.
    this.facts = (
      [
        [this.paths.caCert, 'ca', pki.caPem],
        [this.paths.serverCert, 'server', pki.serverCertPem],
        [this.paths.clientCert, 'client', pki.clientCertPem],
      ] as const
    ).map(([file, kind, pem]) => {
      const info = certificateInfo(pem);
      const life = leafLifetime(info);
      const mtime = kind === 'ca' ? undefined : loaded?.[kind];
      const received = kind === 'ca' ? life.issuedAt : !loaded ? now : new Date(Math.min(mtime?.getTime() ?? Infinity, life.issuedAt.getTime()));
      return { file, kind, issuedAt: life.issuedAt, notAfter: info.notAfter, lifetimeMs: life.lifetimeMs, receivedAt: received, fingerprint: info.fingerprint256 };
    });
  }

  /** The node's local admin client certificate (etcdctl.crt) for its own etcd; throws before enrollment. */
  adminTls(): EtcdTls {
    const pki = this.nodePki;
    if (!pki) throw new AgentError('EA_ADMIN_CERT_UNAVAILABLE', 'this node holds no cluster certificate yet');
    return adminTlsOf(pki);
  }

  certificates(): CertificateFact[] {
    return this.facts;
  }

  fact(kind: CertificateFact['kind']): CertificateFact | undefined {
    return this.facts.find((f) => f.kind === kind);
  }

  /** This node holds a cluster certificate and it has expired: only the join token can get it a new one. */
  serverExpired(now = Date.now()): boolean {
    const server = this.fact('server');
    return server !== undefined && server.notAfter.getTime() <= now;
  }

  /**
   * The certificate this node presents, as client and as server: the
   * cluster-issued one, or the self-signed one over the same key before
   * enrollment and once the cluster certificate has expired (nobody would
   * accept it; the token hello vouches for the self-signed one).
   */
  tls(now = Date.now()): ServerTls {
    if (this.nodePki && !this.serverExpired(now)) {
      return { keyPem: this.nodePki.serverKeyPem, certPem: this.nodePki.serverCertPem, caPem: this.nodePki.caPem };
    }
    return { keyPem: this.selfSigned.keyPem, certPem: this.selfSigned.certPem };
  }
}

/**
 * The mtimes of the leaf certificate files: the agent writes them when they
 * arrive (atomically, never touched afterwards), so an mtime is the moment
 * of receipt by this host's clock. An unreadable mtime counts as unknown
 * (the CA's signing time alone then).
 */
async function receivedFromFiles(paths: PkiPaths): Promise<FileTimes> {
  const mtime = (file: string) => stat(file).then((s) => s.mtime, () => undefined);
  const [server, client] = await Promise.all([mtime(paths.serverCert), mtime(paths.clientCert)]);
  return { server, client };
}
