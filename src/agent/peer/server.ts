import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from '../../util/log.js';
import { httpStatusOf } from '../../util/error-catalogue.js';
import { certificateInfo, fingerprintOf, helloProof, keyIdOfCertificate, loopbackIps, verifyHelloProof } from '../../pki/index.js';
import type { PeerCaller } from '../admission.js';
import {
  MAX_BODY_BYTES,
  clientCertificateSchema,
  enrollSchema,
  renewSchema,
  type ClientCertificateRequest,
  type ClientCertificateResponse,
  type RenewRequest,
  type RenewResponse,
  helloFinishSchema,
  joinSchema,
  helloStartSchema,
  type EnrollRequest,
  type EnrollResponse,
  type HelloFinishRequest,
  type HelloFinishResponse,
  type HelloStartRequest,
  type HelloStartResponse,
  type JoinRequest,
  type JoinResponse,
  type PeerInfo,
  type ViewReport,
} from './protocol.js';
import { PeerApiError, badPeerRequest, clusterMismatch, helloRequired, helloExpired, identityRefused, tokenProofRejected } from './errors.js';
import { PendingHellos, type PendingHello } from './hello-table.js';
import { guardConnections, openFileLimit, peerApiLimits, type PeerApiLimits } from './limits.js';
import { sourceKey } from './source.js';
import { Throttle } from './throttle.js';

export interface ServerTls {
  keyPem: string;
  certPem: string;
  /** Cluster CA once enrolled: client certificates chaining to it are trusted. */
  caPem?: string;
}


export interface PeerServerHandlers {
  clusterName: string;
  /** Still being derived while the server starts listening (scrypt, costly by design); awaited by the hello. */
  helloKey: Buffer | Promise<Buffer>;
  selfInfo(): PeerInfo;
  viewReport(): ViewReport;
  /** Whether a peer that proved the token may be who it says (admission.ts); the reason to refuse, or undefined. */
  admitHello(info: PeerInfo, keyId: string, viaCa: boolean): string | undefined;
  /** A peer proved the token to us (server side of the hello). */
  peerAuthenticated(info: PeerInfo, remoteAddress: string): void;
  /** Someone failed to authenticate; for the log and /status. */
  peerRefused(remoteAddress: string, reason: string): void;
  enroll(caller: PeerCaller, request: EnrollRequest): Promise<EnrollResponse>;
  /** POST /v1/join: a joiner asks a member of the formed cluster to be let in. */
  join(caller: PeerCaller, request: JoinRequest): Promise<JoinResponse>;
  renew(caller: PeerCaller, request: RenewRequest): Promise<RenewResponse>;
  clientCertificate(caller: PeerCaller, request: ClientCertificateRequest): Promise<ClientCertificateResponse>;
}

interface Session {
  info: PeerInfo;
  expiresAt: number;
}

const PENDING_TTL_MS = 30_000;
/** Refusals passed on to the log and /status per 10 s; the rest are counted. */
const REFUSALS_PER_INTERVAL = 10;
const SESSION_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 1024;

/**
 * The agent peer API. TLS always asks for a client certificate; a caller is
 * trusted when its certificate chains to the cluster CA, or when its
 * certificate's fingerprint completed a token hello.
 */
export class PeerServer {
  private readonly app: FastifyInstance;
  private readonly pending: PendingHellos;
  private readonly sessions = new Map<string, Session>();
  private readonly refusals = new Throttle(REFUSALS_PER_INTERVAL);
  private readonly loadWarnings = new Throttle(1);
  private tls: ServerTls;

  constructor(
    tls: ServerTls,
    private readonly handlers: PeerServerHandlers,
    private readonly logger: Logger,
    readonly limits: PeerApiLimits = peerApiLimits(),
  ) {
    this.tls = tls;
    this.pending = new PendingHellos({ ttlMs: PENDING_TTL_MS, perSource: limits.pendingHellosPerSource, total: limits.pendingHellos });
    this.app = Fastify({
      https: {
        key: tls.keyPem,
        cert: tls.certPem,
        ...(tls.caPem ? { ca: tls.caPem } : {}),
        requestCert: true,
        rejectUnauthorized: false,
        // Slow or silent callers lose their connection instead of holding it (and a descriptor) for minutes.
        handshakeTimeout: limits.handshakeTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        connectionsCheckingInterval: 1000,
      },
      bodyLimit: MAX_BODY_BYTES,
      logger: false,
      connectionTimeout: limits.idleTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      return503OnClosing: true,
      // Fastify's default silently strips unknown fields; a peer sending them is refused instead.
      // validateSchema: our schemas are constants, checked against JSON Schema's meta-schema by
      // test/unit/peer-protocol.test.ts instead of at every start (≈30 ms of the way to listen()).
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, validateSchema: false } },
    });
    guardConnections(this.app.server, limits, (source, reason) => this.loadWarning(source, reason));
    this.routes();
  }

  get fastify(): FastifyInstance {
    return this.app;
  }

  async listen(host: string, port: number): Promise<void> {
    await this.app.listen({ host, port });
    const { connections, connectionsPerSource } = this.limits;
    this.logger.info({ component: 'peer-api', connections, connectionsPerSource, openFileLimit: openFileLimit() }, 'peer API connection limits');
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
    // Unknown routes: our code, and the path not echoed back (it is whatever the caller sent).
    app.setNotFoundHandler((request, reply) => {
      void reply.code(404).send({ code: 'EA_PEER_NO_ROUTE', message: `no such peer API route for ${request.method}; a caller that is an agent runs an incompatible etcd-agent version` });
    });
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
        // fastify's own refusals (FST_ERR_CTP_*: not JSON, a __proto__ key, too large, wrong type) keep their
        // status but answer with our catalogue's code, so callers only ever see EA_ codes.
        const what = e.statusCode === 413 ? `body larger than ${MAX_BODY_BYTES} bytes` : `malformed request: ${e.message}`;
        void reply.code(e.statusCode).send({ code: e.statusCode === 413 ? 'EA_PEER_TOO_LARGE' : 'EA_PEER_BAD_REQUEST', message: what });
        return;
      }
      this.logger.error({ err, url: request.url }, 'peer API handler failed');
      void reply.code(httpStatusOf('EA_PEER_INTERNAL')).send({ code: 'EA_PEER_INTERNAL', message: 'internal error; see the agent log' });
    });

    app.post<{ Body: HelloStartRequest }>('/v1/hello/start', { schema: { body: helloStartSchema } }, async (request) => {
      const fingerprint = clientFingerprint(request);
      if (!fingerprint) throw badPeerRequest('present a TLS client certificate');
      if (request.body.clusterName !== this.handlers.clusterName) {
        // Both names for our log (the schema allows no control characters in them); neither in the answer.
        this.refuse(request.ip, `hello for cluster "${request.body.clusterName}" (this agent serves "${this.handlers.clusterName}")`);
        throw clusterMismatch();
      }
      this.prune();
      const serverNonce = this.pending.issue(sourceKey(request.ip), { clientFingerprint: fingerprint, clientNonce: request.body.clientNonce });
      // Only the nonce: who this agent is comes with the finish, once the caller proved the token.
      const answer: HelloStartResponse = { serverNonce };
      return answer;
    });

    app.post<{ Body: HelloFinishRequest }>('/v1/hello/finish', { schema: { body: helloFinishSchema } }, async (request) => {
      const pending = this.takePending(request.ip, request.body.serverNonce, clientFingerprint(request));
      const fingerprint = pending.clientFingerprint;
      const helloKey = await this.handlers.helloKey;
      const ok = verifyHelloProof(
        helloKey,
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
      if (info.clusterName !== this.handlers.clusterName) throw clusterMismatch();
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
        proof: helloProof(helloKey, {
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

    app.post<{ Body: JoinRequest }>('/v1/join', { schema: { body: joinSchema } }, async (request) => {
      const caller = this.caller(request);
      return this.handlers.join(caller, request.body);
    });

    app.post<{ Body: RenewRequest }>('/v1/renew', { schema: { body: renewSchema } }, async (request) => {
      const caller = this.caller(request);
      return this.handlers.renew(caller, request.body);
    });

    app.post<{ Body: ClientCertificateRequest }>('/v1/client-certificate', { schema: { body: clientCertificateSchema } }, async (request) => {
      const caller = this.caller(request);
      return this.handlers.clientCertificate(caller, request.body);
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
      const facts = certificateInfo(cert.raw);
      const loopback = new Set(loopbackIps());
      return {
        via: 'ca',
        commonName: cn,
        fingerprint,
        keyId,
        node: facts.extendedKeyUsage.includes('serverAuth'),
        addresses: facts.ipAddresses.filter((ip) => !loopback.has(ip)),
      };
    }
    const session = this.sessions.get(fingerprint);
    if (!session || session.expiresAt < Date.now()) throw helloRequired();
    return { via: 'token', info: session.info, fingerprint, keyId };
  }

  /** The hello a finish continues (started from the same certificate), or the refusal saying why there is none. */
  private takePending(ip: string, serverNonce: string, fingerprint: string | undefined): PendingHello {
    const taken = this.pending.take(serverNonce);
    if (taken.kind === 'gone') {
      // Ours, but expired, used or dropped under load: the caller's token is not in question.
      this.logger.debug({ component: 'peer-api', peer: ip }, 'hello finish for a hello no longer pending');
      throw helloExpired();
    }
    if (!fingerprint || taken.kind !== 'found' || taken.hello.clientFingerprint !== fingerprint) {
      this.refuse(ip, 'hello finish without a matching start (not issued here, or relayed from another certificate)');
      throw tokenProofRejected();
    }
    return taken.hello;
  }

  /** Passes a refusal on to the log and /status, at most a few per interval (a flood is summarised). */
  private refuse(from: string, reason: string): void {
    const gate = this.refusals.pass();
    if (!gate.ok) return;
    const more = gate.heldBack > 0 ? ` (and ${gate.heldBack} more refusals not listed)` : '';
    this.handlers.peerRefused(from, `${reason}${more}`);
  }

  private loadWarning(source: string, reason: string): void {
    const gate = this.loadWarnings.pass();
    if (!gate.ok) return;
    this.logger.warn({ component: 'peer-api', peer: source, reason, heldBack: gate.heldBack }, 'peer API under load: connection refused');
  }

  private ownFingerprint(): string {
    return fingerprintOf(this.tls.certPem);
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, v] of this.sessions) if (v.expiresAt < now) this.sessions.delete(k);
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
