import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from '../../util/log.js';
import { httpStatusOf } from '../../util/error-catalogue.js';
import { fingerprintOf, helloProof, keyIdOfCertificate, newNonce, verifyHelloProof } from '../../pki/index.js';
import type { PeerCaller } from '../admission.js';
import {
  MAX_BODY_BYTES,
  enrollSchema,
  helloFinishSchema,
  helloStartSchema,
  type EnrollRequest,
  type EnrollResponse,
  type HelloFinishRequest,
  type HelloFinishResponse,
  type HelloStartRequest,
  type HelloStartResponse,
  type PeerInfo,
  type ViewReport,
} from './protocol.js';
import { PeerApiError, badPeerRequest, clusterMismatch, helloRequired, identityRefused, tokenProofRejected } from './errors.js';

export interface ServerTls {
  keyPem: string;
  certPem: string;
  /** Cluster CA once enrolled: client certificates chaining to it are trusted. */
  caPem?: string;
}

export type { PeerCaller };

export interface PeerServerHandlers {
  clusterName: string;
  helloKey: Buffer;
  selfInfo(): PeerInfo;
  viewReport(): ViewReport;
  /** Whether a peer that proved the token may be who it says (admission.ts); the reason to refuse, or undefined. */
  admitHello(info: PeerInfo, keyId: string, viaCa: boolean): string | undefined;
  /** A peer proved the token to us (server side of the hello). */
  peerAuthenticated(info: PeerInfo, remoteAddress: string): void;
  /** Someone failed to authenticate; for the log and /status. */
  peerRefused(remoteAddress: string, reason: string): void;
  enroll(caller: PeerCaller, request: EnrollRequest): Promise<EnrollResponse>;
}

interface PendingHello {
  clientFingerprint: string;
  clientNonce: string;
  expiresAt: number;
}
interface Session {
  info: PeerInfo;
  expiresAt: number;
}

const PENDING_TTL_MS = 30_000;
const SESSION_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 1024;

/**
 * The agent peer API. TLS always asks for a client certificate; a caller is
 * trusted when its certificate chains to the cluster CA, or when its
 * certificate's fingerprint completed a token hello.
 */
export class PeerServer {
  private readonly app: FastifyInstance;
  private readonly pending = new Map<string, PendingHello>();
  private readonly sessions = new Map<string, Session>();
  private tls: ServerTls;

  constructor(
    tls: ServerTls,
    private readonly handlers: PeerServerHandlers,
    private readonly logger: Logger,
  ) {
    this.tls = tls;
    this.app = Fastify({
      https: { key: tls.keyPem, cert: tls.certPem, ...(tls.caPem ? { ca: tls.caPem } : {}), requestCert: true, rejectUnauthorized: false },
      bodyLimit: MAX_BODY_BYTES,
      logger: false,
      connectionTimeout: 10_000,
      requestTimeout: 10_000,
      return503OnClosing: true,
      // Fastify's default silently strips unknown fields; a peer sending them is refused instead.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    });
    this.routes();
  }

  get fastify(): FastifyInstance {
    return this.app;
  }

  async listen(host: string, port: number): Promise<void> {
    await this.app.listen({ host, port });
  }

  /** Swap the served certificate (ephemeral → cluster-issued) without a restart. */
  updateTls(tls: ServerTls): void {
    this.tls = tls;
    const server = this.app.server as unknown as { setSecureContext(o: object): void };
    server.setSecureContext({ key: tls.keyPem, cert: tls.certPem, ...(tls.caPem ? { ca: tls.caPem } : {}) });
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  private routes(): void {
    const app = this.app;
    app.setErrorHandler((err, request, reply) => {
      if (err instanceof PeerApiError) {
        void reply.code(err.httpStatus).send({ code: err.code, message: err.message });
        return;
      }
      const e = err as { validation?: unknown; statusCode?: number; code?: string; message: string };
      if (e.validation) {
        void reply.code(httpStatusOf('EA_PEER_BAD_REQUEST')).send({ code: 'EA_PEER_BAD_REQUEST', message: `malformed request: ${e.message}` });
        return;
      }
      if (e.statusCode && e.statusCode < 500) {
        void reply.code(e.statusCode).send({ code: e.code ?? 'EA_PEER_BAD_REQUEST', message: e.message });
        return;
      }
      this.logger.error({ err, url: request.url }, 'peer API handler failed');
      void reply.code(httpStatusOf('EA_PEER_INTERNAL')).send({ code: 'EA_PEER_INTERNAL', message: 'internal error; see the agent log' });
    });

    app.post<{ Body: HelloStartRequest }>('/v1/hello/start', { schema: { body: helloStartSchema } }, async (request) => {
      const fingerprint = clientFingerprint(request);
      if (!fingerprint) throw badPeerRequest('present a TLS client certificate');
      if (request.body.clusterName !== this.handlers.clusterName) {
        this.handlers.peerRefused(request.ip, `hello for cluster "${request.body.clusterName}"`);
        throw clusterMismatch(request.body.clusterName, this.handlers.clusterName);
      }
      const serverNonce = newNonce();
      this.prune();
      this.pending.set(serverNonce, {
        clientFingerprint: fingerprint,
        clientNonce: request.body.clientNonce,
        expiresAt: Date.now() + PENDING_TTL_MS,
      });
      const answer: HelloStartResponse = { serverNonce, info: this.handlers.selfInfo() };
      return answer;
    });

    app.post<{ Body: HelloFinishRequest }>('/v1/hello/finish', { schema: { body: helloFinishSchema } }, async (request) => {
      const fingerprint = clientFingerprint(request);
      const pending = this.pending.get(request.body.serverNonce);
      this.pending.delete(request.body.serverNonce);
      if (!fingerprint || !pending || pending.expiresAt < Date.now() || pending.clientFingerprint !== fingerprint) {
        this.handlers.peerRefused(request.ip, 'hello finish without a matching start (expired, replayed or relayed)');
        throw tokenProofRejected();
      }
      const ok = verifyHelloProof(
        this.handlers.helloKey,
        {
          role: 'client',
          ownFingerprint: fingerprint,
          peerFingerprint: this.ownFingerprint(),
          ownNonce: pending.clientNonce,
          peerNonce: request.body.serverNonce,
        },
        request.body.proof,
      );
      if (!ok) {
        this.handlers.peerRefused(`${request.ip} (${request.body.info.name})`, 'wrong join token: its token proof does not match');
        throw tokenProofRejected();
      }
      const info = request.body.info;
      if (info.clusterName !== this.handlers.clusterName) throw clusterMismatch(info.clusterName, this.handlers.clusterName);
      const tlsPeer = peerKey(request);
      const claimRefused = tlsPeer && this.handlers.admitHello(info, tlsPeer.keyId, tlsPeer.caName === info.name);
      if (!tlsPeer || claimRefused) {
        const why = claimRefused || 'no readable client certificate';
        this.handlers.peerRefused(`${request.ip} (${info.name})`, `proved the token but ${why}`);
        throw identityRefused(why);
      }
      this.sessions.set(fingerprint, { info, expiresAt: Date.now() + SESSION_TTL_MS });
      this.handlers.peerAuthenticated(info, request.ip);
      const answer: HelloFinishResponse = {
        proof: helloProof(this.handlers.helloKey, {
          role: 'server',
          ownFingerprint: this.ownFingerprint(),
          peerFingerprint: fingerprint,
          ownNonce: request.body.serverNonce,
          peerNonce: pending.clientNonce,
        }),
        info: this.handlers.selfInfo(),
      };
      return answer;
    });

    app.get('/v1/view', async (request) => {
      this.caller(request);
      return this.handlers.viewReport();
    });

    app.post<{ Body: EnrollRequest }>('/v1/enroll', { schema: { body: enrollSchema } }, async (request) => {
      const caller = this.caller(request);
      return this.handlers.enroll(caller, request.body);
    });
  }

  private caller(request: FastifyRequest): PeerCaller {
    const socket = request.raw.socket as TLSSocket;
    const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    const fingerprint = cert?.fingerprint256;
    if (!fingerprint) throw helloRequired();
    const keyId = keyIdOfCertificate(cert.raw);
    if (this.tls.caPem && socket.authorized) {
      const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : '';
      return { via: 'ca', commonName: cn, fingerprint, keyId };
    }
    const session = this.sessions.get(fingerprint);
    if (!session || session.expiresAt < Date.now()) throw helloRequired();
    return { via: 'token', info: session.info, fingerprint, keyId };
  }

  private ownFingerprint(): string {
    return fingerprintOf(this.tls.certPem);
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, v] of this.pending) if (v.expiresAt < now) this.pending.delete(k);
    for (const [k, v] of this.sessions) if (v.expiresAt < now) this.sessions.delete(k);
    while (this.pending.size >= MAX_ENTRIES) {
      const oldest = this.pending.keys().next().value;
      if (oldest === undefined) break;
      this.pending.delete(oldest);
    }
    while (this.sessions.size >= MAX_ENTRIES) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
  }
}

/**
 * The key id of the client's certificate, and its CN when that certificate
 * chains to our cluster CA (a member recognised by its cluster certificate).
 */
function peerKey(request: FastifyRequest): { keyId: string; caName: string | undefined } | undefined {
  const socket = request.raw.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert?.raw) return undefined;
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined;
  return { keyId: keyIdOfCertificate(cert.raw), caName: socket.authorized ? cn : undefined };
}

function clientFingerprint(request: FastifyRequest): string | undefined {
  const socket = request.raw.socket as TLSSocket;
  // inject() requests have no TLS socket.
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  return socket.getPeerCertificate()?.fingerprint256 || undefined;
}
