import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { sourceKey } from './source.js';

/**
 * How much of the process the peer API may take. It is open to anyone who can
 * reach the port, so it gets a share of the file descriptors, never all of
 * them: the agent's own work (etcd client, state files, the status API,
 * outgoing hellos) keeps a reserve however many connections arrive.
 */
export interface PeerApiLimits {
  /** Open connections in all. */
  connections: number;
  /** Open connections from one source (an IPv4 address or an IPv6 /64). */
  connectionsPerSource: number;
  /** Pending hellos (started, not finished) in all and per source. */
  pendingHellos: number;
  pendingHellosPerSource: number;
  /** A TLS handshake, and the request headers, must arrive within these. */
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  /** The whole request, and the gap allowed between bytes. */
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

const MAX_CONNECTIONS = 512;
const MIN_CONNECTIONS = 16;
const FD_RESERVE = 256;

/** The soft RLIMIT_NOFILE of this process (Linux), or undefined when it cannot be read. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Limits for a process allowed `nofile` descriptors: at most 512 connections, and at least a quarter (≥ 256) held back. */
export function peerApiLimits(nofile = openFileLimit()): PeerApiLimits {
  const reserve = nofile === undefined ? FD_RESERVE : Math.max(FD_RESERVE, Math.floor(nofile / 4));
  const available = nofile === undefined ? MAX_CONNECTIONS : nofile - reserve;
  const connections = Math.max(MIN_CONNECTIONS, Math.min(MAX_CONNECTIONS, available));
  return {
    connections,
    connectionsPerSource: Math.min(16, connections),
    pendingHellos: 1024,
    pendingHellosPerSource: 16,
    handshakeTimeoutMs: 10_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    keepAliveTimeoutMs: 5_000,
  };
}

export interface ConnectionGuard {
  /** Open connections per source, for tests and logs. */
  open(): Map<string, number>;
}

/**
 * Counts connections per source as they arrive (before TLS) and keeps both
 * limits: a source over its share is cut off at once; when the total is
 * reached, a newcomer from a source with fewer connections takes the slot of
 * the oldest connection of the source with the most, so one busy source
 * cannot lock others out. `server.maxConnections` stays as a backstop above
 * that, for connections still closing.
 */
export function guardConnections(
  server: Server,
  limits: Pick<PeerApiLimits, 'connections' | 'connectionsPerSource'>,
  refused: (source: string, reason: string) => void,
): ConnectionGuard {
  const bySource = new Map<string, Set<Socket>>();
  let total = 0;
  server.maxConnections = limits.connections + limits.connectionsPerSource;

  const forget = (source: string, socket: Socket): void => {
    const set = bySource.get(source);
    if (!set?.delete(socket)) return;
    total -= 1;
    if (set.size === 0) bySource.delete(source);
  };

  // Prepended: runs before the TLS layer wraps the socket, so a refused one costs no handshake.
  server.prependListener('connection', (socket: Socket) => {
    const source = sourceKey(socket.remoteAddress);
    const mine = bySource.get(source)?.size ?? 0;
    if (mine >= limits.connectionsPerSource) {
      refused(source, `more than ${limits.connectionsPerSource} open connections from one source`);
      socket.destroy();
      return;
    }
    if (total >= limits.connections) {
      let largest: [string, Set<Socket>] | undefined;
      for (const entry of bySource) if (!largest || entry[1].size > largest[1].size) largest = entry;
      if (!largest || largest[1].size <= mine + 1) {
        refused(source, `the peer API has ${limits.connections} open connections, its limit`);
        socket.destroy();
        return;
      }
      const [victimSource, victims] = largest;
      const victim = victims.values().next().value as Socket;
      forget(victimSource, victim);
      victim.destroy();
      refused(victimSource, 'connection closed to make room for another source (connection limit reached)');
    }
    let set = bySource.get(source);
    if (!set) {
      set = new Set();
      bySource.set(source, set);
    }
    set.add(socket);
    total += 1;
    socket.once('close', () => forget(source, socket));
  });

  return {
    open: () => new Map([...bySource].map(([k, v]) => [k, v.size])),
  };
}
