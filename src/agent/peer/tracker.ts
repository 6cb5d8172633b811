import type { PeerEndpoint } from '../../discovery/index.js';
import { describeError, isAgentError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { PeerIsSelf, type Endpoint, type PeerClient } from './client.js';
import type { Candidate, PeerInfo } from './protocol.js';
import type { PeerStatus } from '../status/model.js';
import { backoffMs } from '../../util/sleep.js';

interface EndpointState {
  endpoint: PeerEndpoint;
  nodeId?: string;
  self?: boolean;
  error?: string;
  failures: number;
  nextAttemptAt: number;
}

interface KnownPeer {
  info: PeerInfo;
  at: number;
}

const REHELLO_MS = 15_000;
/** Far more agents than any cluster has; a token holder inventing node ids cannot grow the table past it. */
export const MAX_KNOWN_PEERS = 64;
/** A peer that has said nothing for this long may give its place to a newcomer that says hello to us. */
const STALE_MS = 8 * REHELLO_MS;

export interface PeerTrackerOptions {
  maxKnown?: number;
  /** Node ids never evicted (the committed view). */
  pinned?: () => Iterable<string>;
}

/**
 * Which agents we have authenticated, and what went wrong with the endpoints
 * we could not. Both directions count: a peer that completed our hello as a
 * client, and one that completed its hello against our server.
 */
export class PeerTracker {
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly known = new Map<string, KnownPeer>();

  private readonly maxKnown: number;

  constructor(
    private readonly client: PeerClient,
    private readonly selfId: string,
    private readonly logger: Logger,
    private readonly options: PeerTrackerOptions = {},
  ) {
    this.maxKnown = options.maxKnown ?? MAX_KNOWN_PEERS;
  }

  /** Say hello to every endpoint that is due; never throws. */
  async round(endpoints: PeerEndpoint[]): Promise<void> {
    const now = Date.now();
    const current = new Set(endpoints.map((e) => e.key));
    for (const key of this.endpoints.keys()) if (!current.has(key)) this.endpoints.delete(key);
    await Promise.all(
      endpoints.map(async (endpoint) => {
        let state = this.endpoints.get(endpoint.key);
        if (!state) {
          state = { endpoint, failures: 0, nextAttemptAt: 0 };
          this.endpoints.set(endpoint.key, state);
        }
        state.endpoint = endpoint;
        if (now < state.nextAttemptAt) return;
        await this.hello(state);
      }),
    );
  }

  private async hello(state: EndpointState): Promise<void> {
    try {
      const session = await this.client.hello(state.endpoint);
      if (state.error) this.logger.info({ component: 'peers', peer: state.endpoint.key, name: session.info.name }, 'peer authenticated');
      state.nodeId = session.info.nodeId;
      state.error = undefined;
      state.failures = 0;
      state.nextAttemptAt = Date.now() + REHELLO_MS;
      this.store(session.info, 'outbound');
    } catch (err) {
      if (isAgentError(err, PeerIsSelf.code)) {
        state.self = true;
        state.nextAttemptAt = Date.now() + 10 * REHELLO_MS;
        return;
      }
      const reason = describeError(err);
      if (reason !== state.error) {
        this.logger.warn({ component: 'peers', peer: state.endpoint.key, reason }, 'peer not authenticated');
      }
      state.error = reason;
      state.failures += 1;
      state.nextAttemptAt = Date.now() + backoffMs(state.failures);
    }
  }

  /** Record a peer that proved the token by saying hello to us. */
  remember(info: PeerInfo): void {
    this.store(info, 'inbound');
  }

  /**
   * The table is bounded. When it is full, a peer we reached through
   * discovery takes the place of the stalest one not in the committed view;
   * one that only said hello to us takes only the place of one gone stale,
   * else it is not remembered (it is still served; it just is no candidate).
   */
  private store(info: PeerInfo, direction: 'inbound' | 'outbound'): void {
    if (info.nodeId === this.selfId) return;
    const now = Date.now();
    if (!this.known.has(info.nodeId) && this.known.size >= this.maxKnown) {
      const victim = this.stalestEvictable();
      const evictable = victim && (direction === 'outbound' || now - victim.at > STALE_MS);
      if (!victim || !evictable) {
        this.logger.debug({ component: 'peers', peer: info.nodeId, name: info.name, direction }, 'peer table full: not remembered');
        return;
      }
      this.known.delete(victim.info.nodeId);
    }
    this.known.set(info.nodeId, { info, at: now });
  }

  private stalestEvictable(): KnownPeer | undefined {
    const pinned = new Set(this.options.pinned?.() ?? []);
    let stalest: KnownPeer | undefined;
    for (const k of this.known.values()) {
      if (pinned.has(k.info.nodeId)) continue;
      if (!stalest || k.at < stalest.at) stalest = k;
    }
    return stalest;
  }

  peers(): PeerInfo[] {
    return [...this.known.values()].map((k) => k.info);
  }

  /** Fresh (not yet formed) agents, as election candidates. */
  candidates(): Candidate[] {
    return this.peers()
      .filter((p) => p.stage !== 'formed')
      .map(candidateOf);
  }

  endpointFor(nodeId: string): Endpoint | undefined {
    const info = this.known.get(nodeId)?.info;
    return info ? endpointOfInfo(info) : undefined;
  }

  problems(): string[] {
    return [...this.endpoints.values()]
      .filter((s) => s.error && !s.self)
      .map((s) => `${s.endpoint.sources.join('+')} ${s.endpoint.key}: ${s.error}`);
  }

  status(): PeerStatus[] {
    const out: PeerStatus[] = [];
    const listed = new Set<string>();
    for (const s of this.endpoints.values()) {
      if (s.self) continue;
      const known = s.nodeId ? this.known.get(s.nodeId) : undefined;
      if (s.nodeId) listed.add(s.nodeId);
      out.push({
        endpoint: s.endpoint.key,
        sources: s.endpoint.sources,
        origin: s.endpoint.origin,
        authenticated: Boolean(known) && !s.error,
        ...(known ? { nodeId: known.info.nodeId, name: known.info.name, stage: known.info.stage, lastSeen: new Date(known.at).toISOString() } : {}),
        ...(s.error ? { error: s.error } : {}),
      });
    }
    for (const k of this.known.values()) {
      if (listed.has(k.info.nodeId)) continue;
      const ep = endpointOfInfo(k.info);
      out.push({
        endpoint: ep.key,
        sources: ['inbound'],
        origin: 'said hello to us',
        authenticated: true,
        nodeId: k.info.nodeId,
        name: k.info.name,
        stage: k.info.stage,
        lastSeen: new Date(k.at).toISOString(),
      });
    }
    return out;
  }
}

export function candidateOf(info: PeerInfo): Candidate {
  return {
    nodeId: info.nodeId,
    name: info.name,
    address: info.address,
    peerApiPort: info.peerApiPort,
    etcdPeerPort: info.etcdPeerPort,
    etcdClientPort: info.etcdClientPort,
  };
}

export function endpointOfInfo(info: { address: string; peerApiPort: number }): Endpoint {
  const host = info.address.includes(':') ? `[${info.address}]` : info.address;
  return { key: `${host}:${info.peerApiPort}`, address: info.address, port: info.peerApiPort };
}
