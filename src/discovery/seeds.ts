import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { endpointKey, type DiscoverySource, type PeerEndpoint } from './types.js';

export interface Seed {
  host: string;
  port: number;
}

type Lookup = (host: string) => Promise<string[]>;

const defaultLookup: Lookup = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/**
 * Seeds are resolved every round, so a DNS name may move. A seed that does not
 * resolve keeps its last good addresses and its error is shown in /status.
 */
export class SeedSource implements DiscoverySource {
  readonly name = 'seed';
  private resolved = new Map<string, string[]>();
  private errors = new Map<string, string>();

  constructor(
    private readonly seeds: Seed[],
    private readonly self: { addresses: string[]; port: number },
    private readonly resolve: Lookup = defaultLookup,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
  }

  async refresh(): Promise<void> {
    await Promise.all(
      this.seeds.map(async (seed) => {
        const label = seedLabel(seed);
        if (isIP(seed.host)) {
          this.resolved.set(label, [seed.host]);
          return;
        }
        try {
          const addresses = await withTimeout(this.resolve(seed.host), 5000);
          this.resolved.set(label, addresses);
          this.errors.delete(label);
        } catch (err) {
          this.errors.set(label, `seed ${label} does not resolve: ${(err as Error).message}`);
        }
      }),
    );
  }

  endpoints(): PeerEndpoint[] {
    const out: PeerEndpoint[] = [];
    for (const seed of this.seeds) {
      for (const address of this.resolved.get(seedLabel(seed)) ?? []) {
        if (this.isSelf(address, seed.port)) continue;
        out.push({ key: endpointKey(address, seed.port), address, port: seed.port, sources: ['seed'], origin: seedLabel(seed) });
      }
    }
    return out;
  }

  problems(): string[] {
    return [...this.errors.values()];
  }

  async stop(): Promise<void> {}

  private isSelf(address: string, port: number): boolean {
    return port === this.self.port && this.self.addresses.includes(address);
  }
}

export function seedLabel(seed: Seed): string {
  return endpointKey(seed.host, seed.port);
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
