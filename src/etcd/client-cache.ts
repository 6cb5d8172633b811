/**
 * Long-lived etcd clients, one per (endpoint set, TLS material), shared by the
 * bounded calls of client.ts instead of a new client, a TLS probe and a gRPC
 * channel per call (≈70 of each per minute per idle agent).
 *
 * The rules that keep it as safe as one client per call:
 * - the key holds a fingerprint of the TLS material: a renewed certificate
 *   (or key, or CA) makes a new client, and the older clients of the same
 *   endpoints are retired;
 * - a client is reused only while `reusable` says its connections are up (the
 *   caller checks that gRPC would not dial: a dial is what the TLS probe before
 *   every new client guards);
 * - any failed call retires its client; so do `maxAgeMs` and `idleMs`;
 * - a retired client is closed as soon as no call uses it; `retireAll` (agent
 *   stop, end of a CLI command) retires every client.
 * Generic over the client type so the rules are unit-tested without etcd.
 */
export interface ClientCacheOptions<C> {
  close(client: C): void;
  /** May an idle client be handed out again (its connections are up)? */
  reusable(client: C): boolean;
  /** A client is not handed out again after this long. */
  maxAgeMs: number;
  /** A client nobody used for this long is closed at the next acquire. */
  idleMs: number;
  now?: () => number;
}

export interface ClientLease<C> {
  readonly client: C;
  /** Every acquire ends with exactly one release; `ok: false` retires the client. */
  release(ok: boolean): void;
}

interface Entry<C> {
  key: string;
  group: string;
  createdAt: number;
  lastUsedAt: number;
  inUse: number;
  retired: boolean;
  closed: boolean;
  /** Resolves once the client exists (creation includes the TLS probe). */
  ready: Promise<C>;
  client?: C;
}

export class ClientCache<C> {
  private readonly entries = new Map<string, Entry<C>>();
  private readonly now: () => number;

  constructor(private readonly options: ClientCacheOptions<C>) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A client for `key`: the cached one when it may be reused, else a new one
   * from `create` (which other callers of the same key then wait for). `group`
   * names the endpoints: a new client retires the group's clients of other keys.
   * `shareable: false` from `create`'s result (see `CreatedClient`) keeps the
   * new client out of the cache: it is closed at release.
   */
  async acquire(key: string, group: string, create: () => Promise<CreatedClient<C>>): Promise<ClientLease<C>> {
    const now = this.now();
    this.sweep(now);
    const cached = this.entries.get(key);
    if (cached && cached.client !== undefined && !this.fresh(cached, now)) this.retire(cached);
    let entry = this.entries.get(key);
    if (!entry) {
      for (const other of this.entries.values()) if (other.group === group) this.retire(other);
      const created: Entry<C> = {
        key,
        group,
        createdAt: now,
        lastUsedAt: now,
        inUse: 0,
        retired: false,
        closed: false,
        ready: Promise.resolve(undefined as unknown as C),
      };
      created.ready = create().then(
        ({ client, shareable }) => {
          created.client = client;
          if (!shareable) this.retire(created);
          return client;
        },
        (err: unknown) => {
          this.retire(created);
          throw err;
        },
      );
      // Handled here too: a creation nobody awaits any more (its caller timed out) must not be unhandled.
      created.ready.catch(() => undefined);
      this.entries.set(key, created);
      entry = created;
    }
    const e = entry;
    e.inUse++;
    let client: C;
    try {
      client = await e.ready;
    } catch (err) {
      e.inUse--;
      throw err;
    }
    let released = false;
    return {
      client,
      release: (ok: boolean) => {
        if (released) return;
        released = true;
        e.inUse--;
        e.lastUsedAt = this.now();
        if (!ok) this.retire(e);
        this.closeIfDone(e);
      },
    };
  }

  /** Retires every client; those in use close when their calls end. */
  retireAll(): void {
    for (const e of [...this.entries.values()]) this.retire(e);
  }

  /** Clients held (in use or idle), for tests and /metrics-style counting. */
  size(): number {
    return this.entries.size;
  }

  private fresh(e: Entry<C>, now: number): boolean {
    if (e.retired || e.client === undefined) return false;
    if (now - e.createdAt >= this.options.maxAgeMs) return false;
    try {
      return this.options.reusable(e.client);
    } catch {
      return false;
    }
  }

  private sweep(now: number): void {
    for (const e of [...this.entries.values()]) {
      if (e.inUse === 0 && e.client !== undefined && now - e.lastUsedAt >= this.options.idleMs) this.retire(e);
    }
  }

  private retire(e: Entry<C>): void {
    e.retired = true;
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
    this.closeIfDone(e);
  }

  private closeIfDone(e: Entry<C>): void {
    if (!e.retired || e.closed || e.inUse > 0 || e.client === undefined) return;
    e.closed = true;
    try {
      this.options.close(e.client);
    } catch {
      // closing is best effort
    }
  }
}

export interface CreatedClient<C> {
  client: C;
  /** False: used by this call only, closed at its release (e.g. made from a partial set of endpoints). */
  shareable: boolean;
}
