/**
 * One raw HTTPS request to an agent's peer API (port 2390), as a hostile or
 * curious client would send it: any certificate or none, any body, any
 * headers. Never follows the protocol for the caller; tests use it to see
 * exactly what the agent answers.
 */
import { request } from 'node:https';
import type { TlsIdentity } from '../../src/pki/index.js';

export interface PeerAnswer {
  status: number;
  text: string;
  body: { code?: string; message?: string } & Record<string, unknown>;
}

export function peerHttps(
  host: string,
  method: string,
  path: string,
  body: string | undefined,
  identity: TlsIdentity | undefined,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<PeerAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: 2390,
        method,
        path,
        agent: false,
        rejectUnauthorized: false,
        servername: '',
        ...(identity ? { key: identity.keyPem, cert: identity.certPem } : {}),
        headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: PeerAnswer['body'] = {};
          try {
            parsed = JSON.parse(text) as PeerAnswer['body'];
          } catch {
            parsed = { raw: text };
          }
          resolve({ status: res.statusCode ?? 0, text, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
