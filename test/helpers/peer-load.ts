/**
 * Load against one agent's peer API, for the flood tests: tokenless hello
 * floods over keep-alive connections, idle connections (slowloris), and
 * genuine hellos with the real token. Everything here is bounded in time and
 * every socket it opens is closed by `close()`/`stop()`.
 */
import { Worker } from 'node:worker_threads';
import { connect, type Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PeerClient, type Endpoint } from '../../src/agent/peer/client.js';
import { PROTOCOL_VERSION, type PeerInfo } from '../../src/agent/peer/protocol.js';
import { deriveHelloKey, keyIdOfCertificate, type TlsIdentity } from '../../src/pki/index.js';

export interface FloodResult {
  answered: number;
  failed: number;
  perSecond: number;
}

export interface FloodOptions {
  host: string;
  port: number;
  sources: string[];
  connectionsPerSource: number;
  identity: TlsIdentity;
  clusterName: string;
}

/**
 * Runs in a worker thread (plain JS: no TypeScript loader there), so the
 * flood's own work does not delay the test's genuine hellos in this thread.
 */
const FLOOD_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const https = require('node:https');
const tls = require('node:tls');
const { randomBytes } = require('node:crypto');
const o = workerData;
let running = true;
let answered = 0;
let failed = 0;
const started = Date.now();
// One TLS context for all requests: the flood's cost should be the agent's, not ours.
const secureContext = tls.createSecureContext({ key: o.keyPem, cert: o.certPem });
const agents = o.sources.map(() => new https.Agent({ keepAlive: true, maxSockets: o.connectionsPerSource, maxFreeSockets: o.connectionsPerSource }));
function one(agent, localAddress) {
  return new Promise((resolve) => {
    const body = JSON.stringify({ clusterName: o.clusterName, clientNonce: randomBytes(32).toString('base64url') });
    const req = https.request({
      host: o.host, port: o.port, method: 'POST', path: '/v1/hello/start', agent, localAddress,
      secureContext, rejectUnauthorized: false, servername: '',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      timeout: 5000,
    }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 200) answered += 1; else failed += 1; resolve(); });
      res.on('error', () => { failed += 1; resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    // A refused or reset connection: do not spin.
    req.on('error', () => { failed += 1; setTimeout(resolve, 250); });
    req.end(body);
  });
}
const workers = [];
o.sources.forEach((source, i) => {
  for (let c = 0; c < o.connectionsPerSource; c++) workers.push((async () => { while (running) await one(agents[i], source); })());
});
const progress = setInterval(() => parentPort.postMessage({ progress: answered }), 250);
parentPort.on('message', async () => {
  running = false;
  clearInterval(progress);
  await Promise.all(workers);
  for (const a of agents) a.destroy();
  const seconds = (Date.now() - started) / 1000;
  parentPort.postMessage({ done: { answered, failed, perSecond: Math.round(answered / seconds) } });
});
`;

/**
 * Tokenless `hello/start`s as fast as the agent answers them:
 * `connectionsPerSource` keep-alive connections from each source address,
 * one request in flight on each, until `stop()`.
 */
export function floodHelloStarts(options: FloodOptions): { answered: () => number; stop: () => Promise<FloodResult> } {
  const { identity, ...rest } = options;
  const worker = new Worker(FLOOD_WORKER, { eval: true, workerData: { ...rest, keyPem: identity.keyPem, certPem: identity.certPem } });
  const failedEarly = new Promise<FloodResult>((_, reject) => worker.once('error', reject));
  let answered = 0;
  let resolveDone: (r: FloodResult) => void = () => undefined;
  const result = new Promise<FloodResult>((resolve) => {
    resolveDone = resolve;
  });
  worker.on('message', (m: { progress?: number; done?: FloodResult }) => {
    if (m.progress !== undefined) answered = m.progress;
    if (m.done) resolveDone(m.done);
  });
  return {
    answered: () => answered,
    stop: async () => {
      worker.postMessage('stop');
      const timeout = new Promise<FloodResult>((_, reject) => setTimeout(() => reject(new Error('the flood worker did not stop within 15 s')), 15_000).unref());
      try {
        return await Promise.race([result, failedEarly, timeout]);
      } finally {
        await worker.terminate();
      }
    },
  };
}

export interface IdleConnections {
  opened: number;
  /** Each connection the server closed: how long it was open (ms). */
  closedByServer: () => number[];
  close: () => void;
}

/** `count` TCP connections from `localAddress` that never send a byte. */
export async function openIdleConnections(host: string, port: number, localAddress: string, count: number): Promise<IdleConnections> {
  const sockets: Socket[] = [];
  const closedAfter: number[] = [];
  let closing = false;
  let opened = 0;
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const socket = connect({ host, port, localAddress });
        let connectedAt = Date.now();
        sockets.push(socket);
        socket.setTimeout(5000, () => socket.destroy());
        socket.once('connect', () => {
          socket.setTimeout(0);
          connectedAt = Date.now();
          opened += 1;
          resolve();
        });
        socket.on('data', () => undefined);
        socket.on('error', () => undefined);
        socket.once('close', () => {
          if (!closing) closedAfter.push(Date.now() - connectedAt);
          resolve();
        });
      }),
    ),
  );
  return {
    opened,
    closedByServer: () => [...closedAfter],
    close: () => {
      closing = true;
      for (const s of sockets) s.destroy();
    },
  };
}

/** A genuine agent for hellos: the real token, its own certificate and node id, from `localAddress`. */
export function genuineClient(options: {
  clusterName: string;
  token: string;
  identity: TlsIdentity;
  localAddress: string;
  nodeId?: string;
  name?: string;
  timeoutMs?: number;
}): { client: PeerClient; info: PeerInfo } {
  const info: PeerInfo = {
    protocol: PROTOCOL_VERSION,
    clusterName: options.clusterName,
    // A node id is the key id of the key it connects with (src/pki/key-id.ts).
    nodeId: options.nodeId ?? keyIdOfCertificate(options.identity.certPem),
    name: options.name ?? 'genuine',
    address: options.localAddress,
    peerApiPort: 2390,
    etcdPeerPort: 2380,
    etcdClientPort: 2379,
    version: '0.1.0',
    stage: 'fresh',
  };
  const client = new PeerClient({
    clusterName: options.clusterName,
    helloKey: deriveHelloKey(options.token, options.clusterName),
    tls: () => ({ keyPem: options.identity.keyPem, certPem: options.identity.certPem }),
    selfInfo: () => info,
    localAddress: options.localAddress,
    // Generous: under a flood on a busy test machine each request waits behind hundreds of others.
    timeoutMs: options.timeoutMs ?? 15_000,
  });
  return { client, info };
}

export function endpointOf(address: string, port = 2390): Endpoint {
  return { key: `${address}:${port}`, address, port };
}

/** Runs `fn` every `everyMs` until `stop()`, counting failures with their reasons. */
export function probeLoop(everyMs: number, fn: () => Promise<void>): { stop: () => Promise<{ ok: number; failures: string[] }> } {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      const t0 = Date.now();
      try {
        await fn();
        ok += 1;
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - t0))));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { ok, failures };
    },
  };
}

/**
 * A throwaway EC identity from openssl: an RSA identity costs ~0.5 s on a busy
 * test machine, far too slow for a hundred of them. The peer API takes any
 * client certificate in a hello.
 */
export async function quickIdentity(commonName: string): Promise<TlsIdentity> {
  const { stdout } = await promisify(execFile)(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '-', '-subj', `/CN=${commonName}`, '-days', '2',
      '-addext', 'extendedKeyUsage=serverAuth,clientAuth'],
    { timeout: 30_000 },
  );
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(stdout)?.[0];
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(stdout)?.[0];
  if (!keyPem || !certPem) throw new Error(`openssl made no identity: ${stdout.slice(0, 200)}`);
  return { keyPem, certPem, fingerprint256: new X509Certificate(certPem).fingerprint256 };
}
