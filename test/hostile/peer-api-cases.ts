import { randomBytes } from 'node:crypto';

/**
 * Hostile requests to the peer API (port 2390). `body` is sent verbatim;
 * `cert: false` sends no client certificate. Every row must be answered with
 * `status` and, where given, the error `code`; the agent keeps running and
 * nothing it manages changes. Bodies that need a fresh nonce use `{nonce}`.
 */
export interface PeerCase {
  name: string;
  method: string;
  path: string;
  body?: string;
  cert?: boolean;
  headers?: Record<string, string>;
  status: number;
  code?: string;
}

const NONCE = '{nonce}';
const start = (over: Record<string, unknown> = {}): string => JSON.stringify({ clusterName: 'hostile', clientNonce: NONCE, ...over });
const INFO = {
  protocol: 2, clusterName: 'hostile', nodeId: 'f'.repeat(32), name: 'intruder', address: '127.0.51.66',
  peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379, version: '0.1.0', stage: 'fresh',
};
const finish = (info: Record<string, unknown> = {}, over: Record<string, unknown> = {}): string =>
  JSON.stringify({ serverNonce: 'n'.repeat(43), proof: 'A'.repeat(43), info: { ...INFO, ...info }, ...over });
const nested = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const BAD = 'EA_PEER_BAD_REQUEST';

export const PEER_CASES: readonly PeerCase[] = [
  // hello/start: the body
  { name: 'start without a body', method: 'POST', path: '/v1/hello/start', status: 400, code: BAD },
  { name: 'start with JSON null', method: 'POST', path: '/v1/hello/start', body: 'null', status: 400, code: BAD },
  { name: 'start with a JSON array', method: 'POST', path: '/v1/hello/start', body: '[1,2]', status: 400, code: BAD },
  { name: 'start with a JSON string', method: 'POST', path: '/v1/hello/start', body: '"hello"', status: 400, code: BAD },
  { name: 'start with a number', method: 'POST', path: '/v1/hello/start', body: '42', status: 400, code: BAD },
  { name: 'start with truncated JSON', method: 'POST', path: '/v1/hello/start', body: '{"clusterName": ', status: 400, code: BAD },
  { name: 'start without clusterName', method: 'POST', path: '/v1/hello/start', body: JSON.stringify({ clientNonce: NONCE }), status: 400, code: BAD },
  { name: 'start without clientNonce', method: 'POST', path: '/v1/hello/start', body: JSON.stringify({ clusterName: 'hostile' }), status: 400, code: BAD },
  { name: 'start with a numeric cluster name', method: 'POST', path: '/v1/hello/start', body: start({ clusterName: 7 }), status: 400, code: BAD },
  { name: 'start with a 15-character nonce', method: 'POST', path: '/v1/hello/start', body: start({ clientNonce: 'a'.repeat(15) }), status: 400, code: BAD },
  { name: 'start with a 129-character nonce', method: 'POST', path: '/v1/hello/start', body: start({ clientNonce: 'a'.repeat(129) }), status: 400, code: BAD },
  { name: 'start with a nonce holding "/"', method: 'POST', path: '/v1/hello/start', body: start({ clientNonce: 'a/'.repeat(10) }), status: 400, code: BAD },
  { name: 'start with a non-ASCII nonce', method: 'POST', path: '/v1/hello/start', body: start({ clientNonce: 'ü'.repeat(20) }), status: 400, code: BAD },
  { name: 'start with an extra field', method: 'POST', path: '/v1/hello/start', body: start({ admin: true }), status: 400, code: BAD },
  { name: 'start with __proto__', method: 'POST', path: '/v1/hello/start', body: start().replace('{', '{"__proto__":{"admin":true},'), status: 400, code: BAD },
  { name: 'start with constructor.prototype', method: 'POST', path: '/v1/hello/start', body: start().replace('{', '{"constructor":{"prototype":{"x":1}},'), status: 400, code: BAD },
  { name: 'start nested 5000 deep', method: 'POST', path: '/v1/hello/start', body: nested(5000), status: 400, code: BAD },
  { name: 'start of 70 KB', method: 'POST', path: '/v1/hello/start', body: start({ clusterName: 'x'.repeat(70_000) }), status: 413, code: 'EA_PEER_TOO_LARGE' },
  { name: 'start as text/plain', method: 'POST', path: '/v1/hello/start', body: start(), headers: { 'content-type': 'text/plain' }, status: 400, code: BAD },
  { name: 'start with a cluster name holding an escape', method: 'POST', path: '/v1/hello/start', body: start({ clusterName: '\u001b[2J' }), status: 400, code: BAD },
  { name: 'start for another cluster', method: 'POST', path: '/v1/hello/start', body: start({ clusterName: 'someone-else' }), status: 403, code: 'EA_PEER_CLUSTER_MISMATCH' },
  { name: 'start without a client certificate', method: 'POST', path: '/v1/hello/start', body: start(), cert: false, status: 400, code: BAD },
  { name: 'GET on the start route', method: 'GET', path: '/v1/hello/start', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'PUT on the start route', method: 'PUT', path: '/v1/hello/start', body: start(), status: 404, code: 'EA_PEER_NO_ROUTE' },
  // hello/finish: every field of the info
  { name: 'finish for a nonce never issued', method: 'POST', path: '/v1/hello/finish', body: finish(), status: 403, code: 'EA_PEER_TOKEN_PROOF' },
  { name: 'finish with a 42-character proof', method: 'POST', path: '/v1/hello/finish', body: finish({}, { proof: 'A'.repeat(42) }), status: 400, code: BAD },
  { name: 'finish with a proof holding "+"', method: 'POST', path: '/v1/hello/finish', body: finish({}, { proof: '+'.repeat(43) }), status: 400, code: BAD },
  { name: 'finish without info', method: 'POST', path: '/v1/hello/finish', body: JSON.stringify({ serverNonce: 'n'.repeat(43), proof: 'A'.repeat(43) }), status: 400, code: BAD },
  { name: 'finish with protocol 0', method: 'POST', path: '/v1/hello/finish', body: finish({ protocol: 0 }), status: 400, code: BAD },
  { name: 'finish with an upper-case node id', method: 'POST', path: '/v1/hello/finish', body: finish({ nodeId: 'F'.repeat(32) }), status: 400, code: BAD },
  { name: 'finish with a short node id', method: 'POST', path: '/v1/hello/finish', body: finish({ nodeId: 'f'.repeat(31) }), status: 400, code: BAD },
  { name: 'finish with a zone-id address', method: 'POST', path: '/v1/hello/finish', body: finish({ address: 'fe80::1%eth0' }), status: 400, code: BAD },
  { name: 'finish with a host name as address', method: 'POST', path: '/v1/hello/finish', body: finish({ address: 'evil.example' }), status: 400, code: BAD },
  { name: 'finish with a name holding a space', method: 'POST', path: '/v1/hello/finish', body: finish({ name: 'a b' }), status: 400, code: BAD },
  { name: 'finish with a name of 64 characters', method: 'POST', path: '/v1/hello/finish', body: finish({ name: 'n'.repeat(64) }), status: 400, code: BAD },
  { name: 'finish with an unknown stage', method: 'POST', path: '/v1/hello/finish', body: finish({ stage: 'admin' }), status: 400, code: BAD },
  { name: 'finish with an extra info field', method: 'POST', path: '/v1/hello/finish', body: finish({ role: 'ca' }), status: 400, code: BAD },
  { name: 'finish with port 0', method: 'POST', path: '/v1/hello/finish', body: finish({ peerApiPort: 0 }), status: 400, code: BAD },
  { name: 'finish with port 65536', method: 'POST', path: '/v1/hello/finish', body: finish({ etcdPeerPort: 65536 }), status: 400, code: BAD },
  { name: 'finish with a version holding a space', method: 'POST', path: '/v1/hello/finish', body: finish({ version: '1.0 beta' }), status: 400, code: BAD },
  { name: 'finish with a string port', method: 'POST', path: '/v1/hello/finish', body: finish({ etcdClientPort: '2379' }), status: 400, code: BAD },
  // routes that need a hello first
  { name: 'view without a hello', method: 'GET', path: '/v1/view', status: 401, code: 'EA_PEER_HELLO_REQUIRED' },
  { name: 'view without a certificate', method: 'GET', path: '/v1/view', cert: false, status: 401, code: 'EA_PEER_HELLO_REQUIRED' },
  { name: 'POST on the view route', method: 'POST', path: '/v1/view', body: '{}', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'enroll without a hello', method: 'POST', path: '/v1/enroll', body: JSON.stringify({ nodeCsr: 'x'.repeat(100), clientCsr: 'x'.repeat(100) }), status: 401, code: 'EA_PEER_HELLO_REQUIRED' },
  { name: 'enroll with a body that is not JSON', method: 'POST', path: '/v1/enroll', body: '<xml/>', status: 400, code: BAD },
  { name: 'enroll with CSRs that are numbers', method: 'POST', path: '/v1/enroll', body: JSON.stringify({ nodeCsr: 1, clientCsr: 2 }), status: 400, code: BAD },
  { name: 'renew without a hello', method: 'POST', path: '/v1/renew', body: JSON.stringify({ nodeCsr: 'x'.repeat(100), clientCsr: 'x'.repeat(100) }), status: 401, code: 'EA_PEER_HELLO_REQUIRED' },
  { name: 'renew with an extra field', method: 'POST', path: '/v1/renew', body: JSON.stringify({ nodeCsr: 'x'.repeat(100), clientCsr: 'x'.repeat(100), name: 'n1' }), status: 400, code: BAD },
  { name: 'GET on the renew route', method: 'GET', path: '/v1/renew', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'client certificate without a hello', method: 'POST', path: '/v1/client-certificate', body: JSON.stringify({ name: 'app1', csr: 'x'.repeat(100), validitySeconds: 3600 }), status: 401, code: 'EA_PEER_HELLO_REQUIRED' },
  { name: 'client certificate for a path-like name', method: 'POST', path: '/v1/client-certificate', body: JSON.stringify({ name: '../etc', csr: 'x'.repeat(100), validitySeconds: 3600 }), status: 400, code: BAD },
  { name: 'client certificate for 1 second', method: 'POST', path: '/v1/client-certificate', body: JSON.stringify({ name: 'app1', csr: 'x'.repeat(100), validitySeconds: 1 }), status: 400, code: BAD },
  { name: 'client certificate for 11 years', method: 'POST', path: '/v1/client-certificate', body: JSON.stringify({ name: 'app1', csr: 'x'.repeat(100), validitySeconds: 11 * 365 * 86400 }), status: 400, code: BAD },
  // anything else
  { name: 'an unknown route', method: 'GET', path: '/v1/admin', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'a path traversal', method: 'GET', path: '/v1/../../etc/passwd', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'an encoded path traversal', method: 'GET', path: '/v1/%2e%2e/%2e%2e/etc/passwd', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'a 10 KB URL', method: 'GET', path: `/v1/${'a'.repeat(10_000)}`, status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'view with a garbage query string', method: 'GET', path: '/v1/view?%ff%fe=%00&a=%zz', status: 401, code: 'EA_PEER_HELLO_REQUIRED' },
  { name: 'HEAD on the view route', method: 'HEAD', path: '/v1/view', status: 401 },
  { name: 'OPTIONS on the start route', method: 'OPTIONS', path: '/v1/hello/start', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'DELETE on the enroll route', method: 'DELETE', path: '/v1/enroll', status: 404, code: 'EA_PEER_NO_ROUTE' },
  { name: 'TRACE', method: 'TRACE', path: '/v1/view', status: 404, code: 'EA_PEER_NO_ROUTE' },
];

/** Bytes written raw to the peer port (over TLS when `tls`); the agent must close the connection and live on. */
export const TLS_GARBAGE_CASES: readonly { name: string; bytes: Buffer; tls: boolean }[] = [
  { name: 'plain HTTP on the TLS port', bytes: Buffer.from('GET /v1/view HTTP/1.1\r\nHost: x\r\n\r\n'), tls: false },
  { name: 'random bytes instead of a TLS hello', bytes: randomBytes(512), tls: false },
  { name: 'a TLS record header claiming 16 KB, then nothing', bytes: Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), tls: false },
  { name: 'an SSLv2-style hello', bytes: Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]), tls: false },
  { name: 'a garbage request line over TLS', bytes: Buffer.from('\u0000\u0001GARBAGE\r\n\r\n'), tls: true },
  { name: 'a request with 2000 headers over TLS', bytes: Buffer.from(`GET /v1/view HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${i}`).join('\r\n')}\r\n\r\n`), tls: true },
  { name: 'a bad chunked body over TLS', bytes: Buffer.from('POST /v1/hello/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'), tls: true },
  { name: 'a content-length that lies', bytes: Buffer.from('POST /v1/hello/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}'), tls: true },
];
