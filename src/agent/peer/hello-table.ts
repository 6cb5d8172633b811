import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What the server keeps between a caller's hello/start and its hello/finish. */
export interface PendingHello {
  clientFingerprint: string;
  clientNonce: string;
}

export interface HelloTableLimits {
  ttlMs: number;
  /** Pending hellos one source may have; its oldest makes room for its newest. */
  perSource: number;
  /** Pending hellos in all; when full, the source with the most loses its oldest. */
  total: number;
}

export type TakeResult =
  | { kind: 'found'; hello: PendingHello }
  /** A nonce this process issued whose hello is gone: expired, dropped under load, or already used. */
  | { kind: 'gone' }
  /** Not a nonce this process issued. */
  | { kind: 'unknown' };

interface Entry {
  source: string;
  hello: PendingHello;
  expiresAt: number;
}

const RANDOM_BYTES = 16;
const TIME_BYTES = 6;
const MAC_BYTES = 16;

/**
 * Pending hellos, shared out by source so that a flood of tokenless starts
 * from a few addresses only ever evicts its own entries, never a genuine
 * peer's. Server nonces carry their issue time and a MAC under a per-process
 * secret: a finish whose entry was dropped is recognised as "start again",
 * not mistaken for a wrong token.
 */
export class PendingHellos {
  private readonly entries = new Map<string, Entry>();
  private readonly bySource = new Map<string, string[]>();
  private readonly secret = randomBytes(32);

  constructor(
    private readonly limits: HelloTableLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  countFor(source: string): number {
    return this.bySource.get(source)?.length ?? 0;
  }

  /** Records a hello/start from `source`; returns the server nonce for it. */
  issue(source: string, hello: PendingHello): string {
    const now = this.now();
    this.pruneExpired(now);
    const queue = this.bySource.get(source) ?? [];
    while (queue.length >= this.limits.perSource) this.drop(queue[0]!);
    while (this.entries.size >= this.limits.total && this.evictFromLargest()) {
      // evictFromLargest removed one entry; loop until there is room
    }
    const nonce = this.mint(now);
    this.entries.set(nonce, { source, hello, expiresAt: now + this.limits.ttlMs });
    const current = this.bySource.get(source);
    if (current) current.push(nonce);
    else this.bySource.set(source, [nonce]);
    return nonce;
  }

  /** Removes and returns the hello for `nonce` (single use). */
  take(nonce: string): TakeResult {
    const entry = this.entries.get(nonce);
    if (entry) this.drop(nonce);
    if (entry && entry.expiresAt >= this.now()) return { kind: 'found', hello: entry.hello };
    return this.issuedHere(nonce) ? { kind: 'gone' } : { kind: 'unknown' };
  }

  private mint(now: number): string {
    const body = Buffer.alloc(RANDOM_BYTES + TIME_BYTES);
    randomBytes(RANDOM_BYTES).copy(body);
    body.writeUIntBE(Math.min(now, 2 ** 48 - 1), RANDOM_BYTES, TIME_BYTES);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  private issuedHere(nonce: string): boolean {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== RANDOM_BYTES + TIME_BYTES + MAC_BYTES) return false;
    const body = raw.subarray(0, RANDOM_BYTES + TIME_BYTES);
    return timingSafeEqual(raw.subarray(RANDOM_BYTES + TIME_BYTES), this.mac(body));
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(body).digest().subarray(0, MAC_BYTES);
  }

  /** Entries were inserted in time order with one TTL, so the expired ones are at the front. */
  private pruneExpired(now: number): void {
    for (const [nonce, entry] of this.entries) {
      if (entry.expiresAt >= now) break;
      this.drop(nonce);
    }
  }

  /**
   * Among the sources with the most pending hellos, the one whose oldest is
   * oldest loses it. (With more sources than room, every source has one and
   * this is plain oldest-first: sharing out cannot beat that many addresses.)
   */
  private evictFromLargest(): boolean {
    let victim: { nonce: string; length: number; expiresAt: number } | undefined;
    for (const queue of this.bySource.values()) {
      const nonce = queue[0];
      const entry = nonce === undefined ? undefined : this.entries.get(nonce);
      if (nonce === undefined || !entry) continue;
      if (!victim || queue.length > victim.length || (queue.length === victim.length && entry.expiresAt < victim.expiresAt)) {
        victim = { nonce, length: queue.length, expiresAt: entry.expiresAt };
      }
    }
    if (!victim) return false;
    this.drop(victim.nonce);
    return true;
  }

  private drop(nonce: string): void {
    const entry = this.entries.get(nonce);
    if (!entry) return;
    this.entries.delete(nonce);
    const queue = this.bySource.get(entry.source);
    if (!queue) return;
    const i = queue.indexOf(nonce);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.bySource.delete(entry.source);
  }
}
