import { MdnsGroupFailed, MdnsNoClusterPeers, MdnsSendFailed, MdnsSilent } from './errors.js';
import type { MdnsAdvert } from './mdns-records.js';
import { endpointKey, type PeerEndpoint } from './types.js';

/**
 * The agents of our cluster heard over mDNS, each until its TTL runs out or it
 * says goodbye. Pure (time is passed in) so expiry is testable without waiting.
 */

/** A segment full of forged announcements must not grow memory without bound. */
export const MAX_MDNS_PEERS = 256;

interface Entry {
  advert: MdnsAdvert;
  lastSeen: number;
  expiresAt: number;
}

export type UpsertResult = 'new' | 'changed' | 'refreshed' | 'full';

export class MdnsPeerTable {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly limit = MAX_MDNS_PEERS) {}

  /** Record a sighting of `fqdn` valid for `ttlS` seconds from `now`. */
  upsert(fqdn: string, advert: MdnsAdvert, ttlS: number, now: number): UpsertResult {
    const known = this.entries.get(fqdn);
    if (!known && this.entries.size >= this.limit) return 'full';
    this.entries.set(fqdn, { advert, lastSeen: now, expiresAt: now + ttlS * 1000 });
    if (!known) return 'new';
    const a = known.advert;
    return a.address === advert.address && a.port === advert.port && a.nodeId === advert.nodeId && a.name === advert.name ? 'refreshed' : 'changed';
  }

  /** A goodbye (TTL 0): forget the instance now. Returns whether it was known. */
  goodbye(fqdn: string): MdnsAdvert | undefined {
    const known = this.entries.get(fqdn);
    this.entries.delete(fqdn);
    return known?.advert;
  }

  /** Drops every entry whose TTL ran out by `now`; returns what was dropped. */
  expire(now: number): { fqdn: string; advert: MdnsAdvert }[] {
    const gone: { fqdn: string; advert: MdnsAdvert }[] = [];
    for (const [fqdn, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(fqdn);
        gone.push({ fqdn, advert: e.advert });
      }
    }
    return gone;
  }

  get size(): number {
    return this.entries.size;
  }

  /** One endpoint per address:port (two instances may name the same peer API). */
  endpoints(): PeerEndpoint[] {
    const out = new Map<string, PeerEndpoint>();
    for (const { advert } of this.entries.values()) {
      const key = endpointKey(advert.address, advert.port);
      if (out.has(key)) continue;
      out.set(key, { key, address: advert.address, port: advert.port, sources: ['mdns'], origin: `mDNS ${advert.name} (${advert.nodeId.slice(0, 8)})` });
    }
    return [...out.values()];
  }
}

/**
 * Whether mDNS is getting anywhere, in words for /status. Multicast fails
 * quietly (a blocked segment looks exactly like an empty one, and
 * bonjour-service reports a service `up` even when every send failed), so the
 * agent says what it has and has not heard, and since when.
 */
export class MdnsHealth {
  private lastForeignAt: number | undefined;
  private lastClusterAt: number | undefined;
  private sendError: { reason: string; at: number } | undefined;
  private groupError: string | undefined;
  private sinceAt: number;

  constructor(
    now: number,
    private readonly silenceMs = 30_000,
  ) {
    this.sinceAt = now;
  }

  /** Restart the silence clock (mDNS restarted on a new socket or address). */
  restart(now: number): void {
    this.sinceAt = now;
  }

  /** Any mDNS response from another host. */
  heardForeign(now: number): void {
    this.lastForeignAt = now;
    this.groupError = undefined;
  }

  /** A valid announcement of another agent of our cluster. */
  heardCluster(now: number): void {
    this.lastClusterAt = now;
  }

  sendFailed(reason: string, now: number): void {
    this.sendError = { reason, at: now };
  }

  sendSucceeded(): void {
    this.sendError = undefined;
  }

  groupFailed(reason: string): void {
    this.groupError = reason;
  }

  /**
   * @param where   the interface in words, e.g. `eth1 (10.9.0.11)`
   * @param iface   the interface name for the route hint
   * @param peers   how many agents of our cluster are currently known
   */
  problems(now: number, ctx: { where: string; iface: string; cluster: string; peers: number }): string[] {
    const out: string[] = [];
    if (this.sendError) out.push(MdnsSendFailed(ctx.where, this.sendError.reason, ctx.iface).message);
    if (this.groupError) out.push(MdnsGroupFailed(ctx.where, this.groupError).message);
    if (ctx.peers > 0) return out;
    const seconds = Math.round(this.silenceMs / 1000);
    const foreignSince = Math.max(this.sinceAt, this.lastForeignAt ?? 0);
    const clusterSince = Math.max(this.sinceAt, this.lastClusterAt ?? 0);
    if (now - foreignSince >= this.silenceMs) out.push(MdnsSilent(ctx.where, seconds).message);
    else if (now - clusterSince >= this.silenceMs) out.push(MdnsNoClusterPeers(ctx.where, ctx.cluster, seconds).message);
    return out;
  }
}
