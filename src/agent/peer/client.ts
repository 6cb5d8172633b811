import { Ajv, type ValidateFunction } from 'ajv';
import { fingerprintOf, helloProof, newNonce, verifyHelloProof } from '../../pki/index.js';
import { AgentError, defineError, isAgentError } from '../../util/errors.js';
import { sanitizeForTerminal } from '../../util/terminal.js';
import { peerRequest, type ClientTls, type PeerResponse } from './transport.js';
import {
  helloFinishResponseSchema,
  helloStartResponseSchema,
  type HelloFinishResponse,
  type HelloStartResponse,
  type PeerErrorBody,
  type PeerInfo,
} from './protocol.js';

export interface Endpoint {
  key: string;
  address: string;
  port: number;
}

export interface PeerSession {
  endpoint: Endpoint;
  info: PeerInfo;
  serverFingerprint: string;
  clientFingerprint: string;
  at: number;
}

export const PeerRefused = defineError(
  'EA_PEER_REFUSED',
  (endpoint: string, code: string, message: string) => `peer ${endpoint} refused: ${message} (${code})`,
);
export const PeerImpostor = defineError(
  'EA_PEER_IMPOSTOR',
  (endpoint: string) =>
    `peer ${endpoint} could not prove it holds this cluster's join token (a different token, a different cluster, or something relaying the connection); ignoring it`,
);
export const PeerBadAnswer = defineError(
  'EA_PEER_BAD_ANSWER',
  (endpoint: string, what: string) => `peer ${endpoint} answered something malformed: ${what}`,
);
export const PeerIsSelf = defineError('EA_PEER_SELF', (endpoint: string) => `${endpoint} is this agent itself`);

/** The server's code for "your pending hello is gone, start again" (src/agent/peer/errors.ts). */
const HELLO_EXPIRED = 'EA_PEER_HELLO_EXPIRED';

// validateSchema: the answer schemas are constants, checked against the meta-schema by test/unit/peer-protocol.test.ts.
const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: false });
const validators = new WeakMap<object, ValidateFunction>();
function validatorFor(schema: object): ValidateFunction {
  let v = validators.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    validators.set(schema, v);
  }
  return v;
}

export interface PeerClientOptions {
  clusterName: string;
  /** Still being derived while the agent starts (scrypt, costly by design); awaited by the hello. */
  helloKey: Buffer | Promise<Buffer>;
  /** The certificate this agent presents now (ephemeral, later cluster-issued). */
  tls: () => ClientTls;
  selfInfo: () => PeerInfo;
  timeoutMs?: number;
  /** Source address for outgoing connections (the advertise address). */
  localAddress?: string;
}

/**
 * Talks to other agents. Before trusting an answer it requires either a server
 * certificate that chains to our cluster CA, or a server certificate whose
 * fingerprint was bound to the join token in a hello — re-checked on every
 * request, since each request is a fresh TLS connection.
 */
export class PeerClient {
  private readonly sessions = new Map<string, PeerSession>();

  constructor(private readonly options: PeerClientOptions) {}

  session(key: string): PeerSession | undefined {
    return this.sessions.get(key);
  }

  forget(key: string): void {
    this.sessions.delete(key);
  }

  /**
   * The token hello: the client proves first (so a peer with the wrong token
   * is refused — and recorded — by every server), then the server proves
   * itself in its answer. Both proofs cover both certificate fingerprints and
   * both nonces, so neither can be relayed or replayed. A server that dropped
   * our pending hello while busy says so; we start once more.
   */
  async hello(endpoint: Endpoint): Promise<PeerSession> {
    try {
      return await this.helloOnce(endpoint);
    } catch (err) {
      if (!isAgentError(err, PeerRefused.code) || (err as { peerCode?: string }).peerCode !== HELLO_EXPIRED) throw err;
      return this.helloOnce(endpoint);
    }
  }

  private async helloOnce(endpoint: Endpoint): Promise<PeerSession> {
    const tls = this.options.tls();
    const clientFingerprint = fingerprintOf(tls.certPem);
    const clientNonce = newNonce();
    const start = await this.send(endpoint, 'POST', '/v1/hello/start', { clusterName: this.options.clusterName, clientNonce }, tls);
    const started = this.parse<HelloStartResponse>(endpoint, start, helloStartResponseSchema);
    // The server says nothing about itself yet; an agent serves and dials with one certificate, so this is us.
    if (start.serverFingerprint === clientFingerprint) throw PeerIsSelf(endpoint.key);
    const self = this.options.selfInfo();
    const helloKey = await this.options.helloKey;
    const proof = helloProof(helloKey, {
      role: 'client',
      ownFingerprint: clientFingerprint,
      peerFingerprint: start.serverFingerprint,
      ownNonce: clientNonce,
      peerNonce: started.serverNonce,
    });
    const finish = await this.send(endpoint, 'POST', '/v1/hello/finish', { serverNonce: started.serverNonce, proof, info: self }, tls);
    if (finish.serverFingerprint !== start.serverFingerprint) throw PeerImpostor(endpoint.key);
    const finished = this.parse<HelloFinishResponse>(endpoint, finish, helloFinishResponseSchema);
    const serverProved = verifyHelloProof(
      helloKey,
      {
        role: 'server',
        ownFingerprint: finish.serverFingerprint,
        peerFingerprint: clientFingerprint,
        ownNonce: started.serverNonce,
        peerNonce: clientNonce,
      },
      finished.proof,
    );
    if (!serverProved) throw PeerImpostor(endpoint.key);
    if (finished.info.nodeId === self.nodeId) throw PeerIsSelf(endpoint.key);
    // The id must be the id of the key the server holds (or, for a member, its cluster certificate must name it).
    const ownsId = finished.info.nodeId === finish.serverKeyId || (finish.serverChainsToCa && finish.serverCommonName === finished.info.name);
    if (!ownsId) throw PeerBadAnswer(endpoint.key, `it claims node id ${finished.info.nodeId}, which is not the id of its TLS key`);
    if (finished.info.clusterName !== this.options.clusterName) {
      throw PeerBadAnswer(endpoint.key, `it belongs to cluster "${finished.info.clusterName}"`);
    }

    const session: PeerSession = {
      endpoint,
      info: finished.info,
      serverFingerprint: start.serverFingerprint,
      clientFingerprint,
      at: Date.now(),
    };
    this.sessions.set(endpoint.key, session);
    return session;
  }

  /** An authenticated request; says hello first (again) when needed. */
  async call<T>(endpoint: Endpoint, method: 'GET' | 'POST', path: string, body: unknown, schema: object): Promise<T> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const tls = this.options.tls();
      let session = this.sessions.get(endpoint.key);
      const needHello = !session || session.clientFingerprint !== fingerprintOf(tls.certPem);
      if (needHello && !tls.caPem) session = await this.hello(endpoint);
      else if (needHello && session) this.sessions.delete(endpoint.key);

      const res = await this.send(endpoint, method, path, body, tls);
      const trusted = res.serverChainsToCa || (session !== undefined && res.serverFingerprint === session.serverFingerprint);
      if (!trusted || res.status === 401) {
        // Server restarted with a new certificate, or forgot us: prove ourselves again.
        this.sessions.delete(endpoint.key);
        if (attempt === 0) {
          await this.hello(endpoint);
          continue;
        }
        if (!trusted) throw PeerImpostor(endpoint.key);
      }
      if (res.status < 200 || res.status >= 300) throw refusal(endpoint, res);
      return this.parse<T>(endpoint, res, schema);
    }
    throw PeerImpostor(endpoint.key);
  }

  private send(endpoint: Endpoint, method: 'GET' | 'POST', path: string, body: unknown, tls: ClientTls): Promise<PeerResponse> {
    return peerRequest(endpoint, method, path, body, tls, this.options.timeoutMs ?? 5000, this.options.localAddress);
  }

  private parse<T>(endpoint: Endpoint, res: PeerResponse, schema: object): T {
    return parseAnswer<T>(endpoint, res, schema);
  }
}

/** The answer's body when it is a 2xx that fits `schema`; otherwise the refusal, or EA_PEER_BAD_ANSWER. */
export function parseAnswer<T>(endpoint: Endpoint, res: PeerResponse, schema: object): T {
  if (res.status < 200 || res.status >= 300) throw refusal(endpoint, res);
  const validate = validatorFor(schema);
  if (!validate(res.body)) {
    throw PeerBadAnswer(endpoint.key, ajv.errorsText(validate.errors));
  }
  return res.body as T;
}

/**
 * One request over mutual TLS with a cluster certificate, no token session:
 * the answer counts only when the server's certificate chains to the
 * cluster CA too. For tools on a member (`cert issue`), which hold the
 * member's certificate but no hello state.
 */
export async function callWithClusterCertificate<T>(
  endpoint: Endpoint,
  path: string,
  body: unknown,
  tls: Required<ClientTls>,
  schema: object,
  options: { timeoutMs?: number; localAddress?: string } = {},
): Promise<T> {
  const res = await peerRequest(endpoint, 'POST', path, body, tls, options.timeoutMs ?? 10_000, options.localAddress);
  if (!res.serverChainsToCa) throw PeerBadAnswer(endpoint.key, "its TLS certificate is not signed by this cluster's CA");
  return parseAnswer<T>(endpoint, res, schema);
}

function refusal(endpoint: Endpoint, res: PeerResponse): AgentError {
  const body = res.body as Partial<PeerErrorBody> | undefined;
  // The peer's words go into our log and /status: bounded, and without control characters.
  const code = typeof body?.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(body.code) ? body.code : `HTTP ${res.status}`;
  const message = typeof body?.message === 'string' ? sanitizeForTerminal(body.message.slice(0, 300)) : 'no reason given';
  const err = PeerRefused(endpoint.key, code, message);
  return Object.assign(err, { peerCode: code, httpStatus: res.status });
}
