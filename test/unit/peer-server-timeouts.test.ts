/**
 * The peer server closes silent and slow connections (real TLS, short limits):
 * no TLS at all, headers trickled in, an idle keep-alive connection.
 */
import t from 'tap';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { PeerServer } from '../../src/agent/peer/server.js';
import { peerApiLimits } from '../../src/agent/peer/limits.js';
import { createEphemeralIdentity } from '../../src/pki/index.js';
import { silentLogger } from '../../src/util/log.js';

const HOST = '127.0.104.2';

const identity = await createEphemeralIdentity('server');
const limits = { ...peerApiLimits(1024), handshakeTimeoutMs: 1000, headersTimeoutMs: 1000, requestTimeoutMs: 1500, idleTimeoutMs: 3000, keepAliveTimeoutMs: 800 };
const server = new PeerServer(
  { keyPem: identity.keyPem, certPem: identity.certPem },
  {
    clusterName: 'prod',
    helloKey: Buffer.alloc(32),
    selfInfo: () => {
      throw new Error('not used');
    },
    viewReport: () => {
      throw new Error('not used');
    },
    admitHello: () => undefined,
    peerAuthenticated: () => undefined,
    peerRefused: () => undefined,
    enroll: async () => {
      throw new Error('not used');
    },
    join: async () => {
      throw new Error('not used');
    },
    renew: async () => {
      throw new Error('not used');
    },
    clientCertificate: async () => {
      throw new Error('not used');
    },
  },
  silentLogger(),
  limits,
);
await server.listen(HOST, 0);
t.teardown(() => server.close());
const port = (server.fastify.server.address() as AddressInfo).port;

/** Resolves with how long the server kept `socket` open. */
function lifetime(socket: Socket, boundMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${boundMs} ms`));
    }, boundMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

t.test('a connection that never starts TLS is closed after the handshake timeout', async (t) => {
  const socket = netConnect({ host: HOST, port });
  const ms = await lifetime(socket, 10_000);
  t.ok(ms >= 900 && ms < 5000, `closed after ${ms} ms`);
});

t.test('headers trickled in are cut off', async (t) => {
  const key = identity.keyPem;
  const cert = identity.certPem;
  const socket = tlsConnect({ host: HOST, port, key, cert, rejectUnauthorized: false, servername: '' });
  await new Promise((r) => socket.once('secureConnect', r));
  socket.write('POST /v1/hello/start HTTP/1.1\r\nHost: x\r\n');
  const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 200);
  t.teardown(() => clearInterval(timer));
  const ms = await lifetime(socket, 10_000);
  t.ok(ms < 5000, `closed after ${ms} ms although bytes kept coming`);
});

t.test('an idle keep-alive connection is closed', async (t) => {
  const socket = tlsConnect({ host: HOST, port, key: identity.keyPem, cert: identity.certPem, rejectUnauthorized: false, servername: '' });
  await new Promise((r) => socket.once('secureConnect', r));
  const body = JSON.stringify({ clusterName: 'prod', clientNonce: 'A'.repeat(43) });
  socket.write(`POST /v1/hello/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const answer = await new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString('utf8'))));
  t.match(answer, /^HTTP\/1\.1 200/);
  t.match(answer, /\{"serverNonce":"[A-Za-z0-9_-]+"\}$/, 'the nonce and nothing else');
  const ms = await lifetime(socket, 10_000);
  t.ok(ms < 3000, `closed ${ms} ms after the answer`);
});
