/**
 * Load against one agent's peer API, for the flood tests: tokenless hello
 * floods over keep-alive connections, idle connections (slowloris), and
 * genuine hellos with the real token. Everything here is bounded in time and
 * every socket it opens is closed by `close()`/`stop()`.
 */
import { Agent as HttpsAgent, request } from 'node:https';
import { connect, type Socket } from 'node:net';
import { X509Certificate, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PeerClient, type Endpoint } from '../../src/agent/peer/client.js';
import { PROTOCOL_VERSION, type PeerInfo } from '../../src/agent/peer/protocol.js';
import { deriveHelloKey, newNonce, type TlsIdentity } from '../../src/pki/index.js';

export interface FloodResult {
  answered: number;
  failed: number;
  perSecond: number;
}

/**
 * Tokenless `hello/start`s as fast as the agent answers them: `connections`
 * keep-alive connections from each source address, one request in flight on
 * each, until `stop()`.
 */
export function floodHelloStarts(options: {
  host: string;
  port: number;
  sources: string[];
  connectionsPerSource: number;
  identity: TlsIdentity;
  clusterName: string;
}): { stop: () => Promise<FloodResult> } {
  let running = true;
  let answered = 0;
  let failed = 0;
  const started = Date.now();
  const agents = options.sources.map(
    () => new HttpsAgent({ keepAlive: true, maxSockets: options.connectionsPerSource, maxFreeSockets: options.connectionsPerSource }),
  );
  const one = (agent: HttpsAgent, localAddress: string): Promise<void> =>
    new Promise((resolve) => {
      const body = JSON.stringify({ clusterName: options.clusterName, clientNonce: newNonce() });
      const req = request(
        {
          host: options.host,
          port: options.port,
          method: 'POST',
          path: '/v1/hello/start',
          agent,
          localAddress,
          key: options.identity.keyPem,
          cert: options.identity.certPem,
          rejectUnauthorized: false,
          servername: '',
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
          timeout: 5000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) answered += 1;
            else failed += 1;
            resolve();
          });
          res.on('error', () => {
            failed += 1;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed += 1;
        // A refused or reset connection: do not spin.
        setTimeout(resolve, 20);
      });
      req.end(body);
    });
  const workers: Promise<void>[] = [];
  options.sources.forEach((source, i) => {
    const agent = agents[i]!;
    for (let c = 0; c < options.connectionsPerSource; c++) {
      workers.push(
        (async () => {
          while (running) await one(agent, source);
        })(),
      );
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      for (const agent of agents) agent.destroy();
      const seconds = (Date.now() - started) / 1000;
      return { answered, failed, perSecond: Math.round(answered / seconds) };
    },
  };
}

export interface IdleConnections {
  opened: number;
  /** How many the server closed, and when (ms after they were opened). */
  closedByServer: () => number[];
  close: () => void;
}

/** `count` TCP connections from `localAddress` that never send a byte. */
export async function openIdleConnections(host: string, port: number, localAddress: string, count: number): Promise<IdleConnections> {
  const sockets: Socket[] = [];
  const closedAfter: number[] = [];
  let closing = false;
  let opened = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const socket = connect({ host, port, localAddress });
        sockets.push(socket);
        socket.setTimeout(5000, () => socket.destroy());
        socket.once('connect', () => {
          socket.setTimeout(0);
          opened += 1;
          resolve();
        });
        socket.on('data', () => undefined);
        socket.on('error', () => undefined);
        socket.once('close', () => {
          if (!closing) closedAfter.push(Date.now() - t0);
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
}): { client: PeerClient; info: PeerInfo } {
  const info: PeerInfo = {
    protocol: PROTOCOL_VERSION,
    clusterName: options.clusterName,
    nodeId: options.nodeId ?? randomBytes(16).toString('hex'),
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
    timeoutMs: 15_000,
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
