import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { keyIdOfCertificate } from '../../pki/index.js';
import { defineError } from '../../util/errors.js';
import { MAX_BODY_BYTES } from './protocol.js';

/** The TLS material this agent presents as a client. */
export interface ClientTls {
  keyPem: string;
  certPem: string;
  /** Cluster CA, once enrolled: the answer says whether the server chains to it. */
  caPem?: string;
}

export interface PeerResponse {
  status: number;
  body: unknown;
  /** The server certificate's SHA-256 fingerprint, as Node formats it. */
  serverFingerprint: string;
  /** True when the server's certificate chains to `caPem`. */
  serverChainsToCa: boolean;
  serverCommonName: string;
  /** Key id of the server certificate's key (pki/key-id.ts): a node id must equal it. */
  serverKeyId: string;
}

export const PeerUnreachable = defineError(
  'EA_PEER_UNREACHABLE',
  (endpoint: string, reason: string) => `peer ${endpoint} unreachable: ${reason}`,
);

/**
 * One JSON request over a fresh TLS connection (no pooling: every request
 * re-proves the server's certificate, which the caller checks). Bounded by
 * `timeoutMs` and by the response size.
 */
export function peerRequest(
  endpoint: { address: string; port: number; key: string },
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  tls: ClientTls,
  timeoutMs = 5000,
  localAddress?: string,
): Promise<PeerResponse> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: endpoint.address,
        port: endpoint.port,
        method,
        path,
        agent: false,
        // Speak from the advertised address, so peers see (and log) the address they know us by.
        ...(localAddress && isIP(localAddress) === isIP(endpoint.address) ? { localAddress } : {}),
        key: tls.keyPem,
        cert: tls.certPem,
        ...(tls.caPem ? { ca: tls.caPem } : {}),
        // The chain (if any) is judged below; identity is the fingerprint or the CA.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
        // SNI carries host names only (RFC 6066); peers are addressed by IP.
        ...(isIP(endpoint.address) ? { servername: '' } : {}),
        headers: {
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const cert = socket.getPeerCertificate();
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES * 4) {
            req.destroy(new Error('answer too large'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          clearTimeout(timer);
          let parsed: unknown;
          try {
            parsed = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
          } catch {
            reject(PeerUnreachable(endpoint.key, 'answer is not JSON'));
            return;
          }
          resolve({
            status: res.statusCode ?? 0,
            body: parsed,
            serverFingerprint: cert?.fingerprint256 ?? '',
            serverChainsToCa: Boolean(tls.caPem) && socket.authorized,
            serverCommonName: typeof cert?.subject?.CN === 'string' ? cert.subject.CN : '',
            serverKeyId: cert?.raw ? keyIdOfCertificate(cert.raw) : '',
          });
        });
        res.on('error', (err) => reject(PeerUnreachable(endpoint.key, err.message)));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(PeerUnreachable(endpoint.key, err.code ?? err.message));
    });
    if (payload) req.write(payload);
    req.end();
  });
}
