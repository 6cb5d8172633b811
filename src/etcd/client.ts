/**
 * A thin, bounded wrapper over etcd3: every call has a deadline and runs on a
 * shared client (one per endpoint set and TLS material, see client-cache.ts). Failures become
 * EA_ETCD_UNREACHABLE naming the endpoint and the reason in words.
 *
 * etcd3 1.1.2 returns 64-bit ids as decimal strings (proto-loader `longs:
 * String`); we expose them in lower-case hex without leading zeros, as
 * `etcdctl member list` prints them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Etcd3, IOptions } from 'etcd3';
import { ClientCache, type ClientLease, type CreatedClient } from './client-cache.js';
import { loadEtcd3 } from './etcd3-module.js';
import { describeError, isAgentError } from '../util/errors.js';
import { EtcdUnreachable } from './errors.js';

export interface EtcdTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface EtcdMember {
  /** Hex, like etcdctl's member list. */
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export interface EndpointStatus {
  endpoint: string;
  /** Hex. */
  memberId: string;
  /** Hex, '0' when the member knows no leader. */
  leaderId: string;
  raftTerm: string;
  version: string;
  dbSizeBytes: number;
  /** Hex. */
  clusterId: string;
  /** The member's raft committed index (decimal string of a uint64). */
  raftIndex: string;
  /** A learner answers Status and serializable reads only (etcd 3.4). */
  isLearner: boolean;
}

/** '12345' (uint64 as decimal, as etcd3 returns it) → '3039'. */
export function idToHex(decimal: string): string {
  return BigInt(decimal).toString(16);
}

/** 'a1b2' (as etcdctl prints it) → the decimal string etcd3 expects in requests. */
export function hexToId(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

export async function listMembers(
  endpoints: string[],
  tls: EtcdTls,
  timeoutMs: number,
): Promise<{ clusterId: string; members: EtcdMember[] }> {
  return withClient(endpoints, tls, timeoutMs, membersVia);
}

/** The member list through a client already open (see `withClient`). */
export async function membersVia(client: Etcd3): Promise<{ clusterId: string; members: EtcdMember[] }> {
  const res = await client.cluster.memberList({});
  return {
    clusterId: idToHex(res.header.cluster_id),
    members: res.members.map((m) => ({
      id: idToHex(m.ID),
      name: m.name,
      peerUrls: [...m.peerURLs],
      clientUrls: [...m.clientURLs],
      isLearner: Boolean(m.isLearner),
    })),
  };
}

export async function endpointStatus(endpoint: string, tls: EtcdTls, timeoutMs: number): Promise<EndpointStatus> {
  return withClient([endpoint], tls, timeoutMs, async (client) => {
    const res = await client.maintenance.status({});
    return {
      endpoint,
      memberId: idToHex(res.header.member_id),
      leaderId: idToHex(res.leader),
      raftTerm: res.raftTerm,
      version: res.version,
      dbSizeBytes: Number(res.dbSize),
      clusterId: idToHex(res.header.cluster_id),
      raftIndex: String(res.raftIndex),
      isLearner: Boolean(res.isLearner),
    };
  });
}

/**
 * Like `etcdctl endpoint health`: healthy when the member knows a leader, has
 * no alarm raised and answers a linearizable read (which needs a quorum).
 * Never throws; the reason says why not healthy.
 */
export async function endpointHealthy(
  endpoint: string,
  tls: EtcdTls,
  timeoutMs: number,
): Promise<{ healthy: boolean; reason?: string }> {
  try {
    return await withClient([endpoint], tls, timeoutMs, async (client) => {
      const status = await client.maintenance.status({});
      if (idToHex(status.leader) === '0') return { healthy: false, reason: 'the member knows no leader (no quorum yet?)' };
      if (status.errors.length > 0) return { healthy: false, reason: `the member reports: ${status.errors.join('; ')}` };
      // A learner refuses linearizable reads and alarm lists ("rpc not supported for learner"): knowing the leader is all it can show.
      if (status.isLearner) return { healthy: true };
      try {
        // A range read is linearizable unless asked otherwise: it goes through the leader.
        await client.get('health').exec();
      } catch (err) {
        // With auth enabled a forbidden read still proves the quorum answered (etcdctl does the same).
        if (!/permission denied/i.test(describeError(err))) throw err;
      }
      // Numeric enums: etcd3's typings spell them 'Get'/'None' while the proto names are GET/NONE.
      const { AlarmAction, AlarmType } = await loadEtcd3();
      const alarms = await client.maintenance.alarm({ action: AlarmAction.Get, memberID: 0, alarm: AlarmType.None });
      if (alarms.alarms.length > 0) {
        return { healthy: false, reason: `alarm raised: ${alarms.alarms.map((a) => `${String(a.alarm)} on ${idToHex(a.memberID)}`).join(', ')}` };
      }
      return { healthy: true };
    });
  } catch (err) {
    return { healthy: false, reason: isAgentError(err) ? err.message : describeError(err) };
  }
}

/** How long a client may be reused at most (a fresh handshake then re-checks etcd's certificate). */
const CLIENT_MAX_AGE_MS = 5 * 60_000;
/** A client unused for this long is closed (the lineage controller dials other members every 15 s). */
const CLIENT_IDLE_MS = 60_000;

/** The deadline of the withClient call a gRPC call belongs to (several calls may share one client). */
const callDeadline = new AsyncLocalStorage<number>();

const clients = new ClientCache<Etcd3>({
  close: (client) => client.close(),
  reusable: connectionsReady,
  maxAgeMs: CLIENT_MAX_AGE_MS,
  idleMs: CLIENT_IDLE_MS,
});

/**
 * Closes the shared etcd clients (agent stop, end of a CLI command); a call
 * still running keeps its client until it ends (within its deadline). Later
 * calls open new clients.
 */
export function closeEtcdClients(): void {
  clients.retireAll();
}

/** Shared clients currently held (for tests). */
export function openEtcdClients(): number {
  return clients.size();
}

/**
 * Runs `fn` under one deadline with a client on `endpoints`. The client is
 * shared (client-cache.ts): one per endpoint set and TLS material, made after a
 * bounded TLS probe of every endpoint, reused only while its connections are up,
 * and retired after any failure.
 */
export async function withClient<T>(
  endpoints: string[],
  tls: EtcdTls,
  timeoutMs: number,
  fn: (client: Etcd3) => Promise<T>,
): Promise<T> {
  const where = endpoints.join(',');
  if (endpoints.length === 0) throw EtcdUnreachable('(no endpoint)', 'no endpoint was given');
  let hosts: string[];
  try {
    hosts = endpoints.map(toHost);
  } catch (err) {
    throw EtcdUnreachable(where, describeError(err));
  }
  const deadline = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(EtcdUnreachable(where, `no answer within ${timeoutMs} ms`)), timeoutMs + 250);
  });
  // Handled from the start: when the TLS probes outlast the bound (a loaded host), the timer fires before
  // anything awaits this promise, and an unhandled rejection would end the process.
  timeout.catch(() => undefined);
  const key = `${hosts.join(',')}|${tlsFingerprint(tls)}`;
  const acquiring = clients.acquire(key, hosts.join(','), () => openClient(hosts, tls, deadline, where, timeoutMs));
  let lease: ClientLease<Etcd3> | undefined;
  let ok = false;
  try {
    lease = await Promise.race([acquiring, timeout]);
    const client = lease.client;
    const result = await Promise.race([callDeadline.run(deadline, () => fn(client)), timeout]);
    ok = true;
    return result;
  } catch (err) {
    if (isAgentError(err)) throw err;
    throw EtcdUnreachable(where, explain(err, timeoutMs));
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    if (lease) lease.release(ok);
    // Timed out while the client was being made: hand it back once it exists.
    else acquiring.then((late) => late.release(false), () => undefined);
  }
}

/**
 * A new client after a bounded TLS handshake with every endpoint. grpc-js
 * never aborts a TLS handshake in progress, even after close(): a peer that
 * accepts TCP but never answers (a stopped etcd) would keep one socket per
 * dial open. The probe keeps such endpoints away from grpc (and gives precise
 * TLS reasons); a shared client is only reused while gRPC has no dial to make
 * (see connectionsReady), so every gRPC dial follows a probe as before.
 */
async function openClient(hosts: string[], tls: EtcdTls, deadline: number, where: string, timeoutMs: number): Promise<CreatedClient<Etcd3>> {
  const probes = await Promise.all(hosts.map((h) => tlsProbe(h, tls, deadline).then(() => undefined, (err: unknown) => `${h}: ${describeError(err)}`)));
  const usable = hosts.filter((_, i) => probes[i] === undefined);
  if (usable.length === 0) {
    throw EtcdUnreachable(where, explain(new Error(probes.filter((p) => p !== undefined).join('; ')), timeoutMs));
  }
  const options: IOptions = {
    hosts: usable,
    credentials: {
      rootCertificate: Buffer.from(tls.caPem),
      privateKey: Buffer.from(tls.keyPem),
      certChain: Buffer.from(tls.certPem),
    },
    // etcd3 1.1.2 accepts dialTimeout but never reads it; the gRPC deadline is what bounds a call.
    dialTimeout: timeoutMs,
    // Each call carries the deadline of the withClient call it belongs to.
    defaultCallOptions: () => ({ deadline: new Date(callDeadline.getStore() ?? Date.now() + timeoutMs) }),
  };
  const { Etcd3: Client } = await loadEtcd3();
  // A client without the endpoints that failed their probe serves this call only.
  return { client: new Client(options), shareable: usable.length === hosts.length };
}

/** The last material fingerprinted: every etcd call asks again, almost always for the same material. */
let lastFingerprint: (EtcdTls & { fingerprint: string }) | undefined;

/** sha256 over the CA, certificate and key: renewed material makes a new client. */
function tlsFingerprint(tls: EtcdTls): string {
  const last = lastFingerprint;
  if (last !== undefined && last.caPem === tls.caPem && last.certPem === tls.certPem && last.keyPem === tls.keyPem) return last.fingerprint;
  const fingerprint = createHash('sha256').update(tls.caPem).update('\0').update(tls.certPem).update('\0').update(tls.keyPem).digest('hex');
  lastFingerprint = { caPem: tls.caPem, certPem: tls.certPem, keyPem: tls.keyPem, fingerprint };
  return fingerprint;
}

/**
 * gRPC would send a call at once, without dialing: every host of the client has
 * a channel, and every channel is READY. Reads etcd3 1.1.2 internals
 * (`pool.hosts[].cachedServices`); anything unexpected answers false, and the
 * client is then simply made anew (with its probe), as before the cache.
 */
export function connectionsReady(client: Etcd3): boolean {
  const hosts = field(field(client, 'pool'), 'hosts');
  if (!Array.isArray(hosts) || hosts.length === 0) return false;
  for (const host of hosts) {
    const services = field(host, 'cachedServices');
    if (typeof services !== 'object' || services === null) return false;
    const list = Object.values(services);
    if (list.length === 0) return false;
    for (const service of list) {
      const getChannel = field(service, 'getChannel');
      if (typeof getChannel !== 'function') return false;
      const channel: unknown = getChannel.call(service);
      const getState = field(channel, 'getConnectivityState');
      if (typeof getState !== 'function') return false;
      // grpc-js ConnectivityState.READY
      if (getState.call(channel, false) !== 2) return false;
    }
  }
  return true;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** One TLS handshake to `https://host:port`, bounded by `deadline`; the socket is always destroyed. */
function tlsProbe(host: string, tls: EtcdTls, deadline: number): Promise<void> {
  const url = new URL(host);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise<void>((resolve, reject) => {
    const socket = tlsConnect({
      host: hostname,
      port: Number(url.port),
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.keyPem,
      ALPNProtocols: ['h2'],
      ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('TLS handshake not completed before the deadline (deadline exceeded)'));
    }, Math.max(1, deadline - Date.now()));
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.on('error', () => undefined); // late errors after destroy() must not crash the agent
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** `https://127.0.0.11:2379` → `https://127.0.0.11:2379` (etcd3 strips the scheme; a path would break it). */
function toHost(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`${endpoint} is not a URL; give https://HOST:PORT`);
  }
  if (url.protocol !== 'https:') throw new Error(`${endpoint} is not an https:// URL; etcd-agent only talks TLS to etcd`);
  if (url.port === '') throw new Error(`${endpoint} has no port`);
  return `https://${url.host}`;
}

/** gRPC status text → words an operator can act on, plus the raw reason on one short line. */
export function explain(err: unknown, timeoutMs: number): string {
  const raw = describeError(err)
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)\.\s*Resolution note:\s*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const short = raw.length > 240 ? `${raw.slice(0, 240)}…` : raw;
  const hint = ((): string | undefined => {
    if (/PEM|ERR_OSSL|DECODER|no start line|bad decrypt|KEY_VALUES_MISMATCH|key values mismatch/i.test(raw) && !/alert/i.test(raw)) {
      return 'our own CA certificate, client certificate or key is unusable (not PEM, or key and certificate do not match)';
    }
    if (/alert bad certificate|alert certificate unknown|alert unknown ca|alert certificate required|alert handshake failure/i.test(raw)) {
      return 'etcd rejected our client certificate (not signed by the cluster CA, or missing clientAuth usage)';
    }
    if (/certificate verify failed|self[- ]signed|unable to get local issuer|unable to verify/i.test(raw)) {
      return "etcd's certificate is not signed by the CA we trust (wrong ca.crt?)";
    }
    if (/altname|does not match|not in the cert's list/i.test(raw)) return "etcd's certificate does not name this address";
    if (/DEADLINE_EXCEEDED|deadline exceeded/i.test(raw)) {
      return `no answer within ${timeoutMs} ms (etcd not listening, still starting, without quorum, or rejecting our certificate)`;
    }
    if (/ECONNREFUSED|connection refused/i.test(raw)) return 'connection refused (nothing listens there)';
    if (/EHOSTUNREACH|ENETUNREACH|no route/i.test(raw)) return 'no route to that address';
    if (/certificate|handshake|SSL|TLS/i.test(raw)) return 'TLS handshake failed';
    if (/UNAVAILABLE|No connection established/i.test(raw)) return 'not reachable';
    return undefined;
  })();
  return hint === undefined ? short : `${hint} [${short}]`;
}
