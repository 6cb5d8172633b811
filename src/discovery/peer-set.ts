import type { DiscoverySource, PeerEndpoint } from './types.js';

/**
 * Merges the endpoints of every discovery source into one set keyed by
 * address:port. Which of them are real agents of our cluster is decided later
 * by the authenticated hello, never here.
 */
export class PeerSet {
  constructor(private readonly sources: DiscoverySource[]) {}

  async start(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.start()));
  }

  async refresh(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.refresh()));
  }

  endpoints(): PeerEndpoint[] {
    const merged = new Map<string, PeerEndpoint>();
    for (const source of this.sources) {
      for (const ep of source.endpoints()) {
        const known = merged.get(ep.key);
        if (known) {
          for (const s of ep.sources) if (!known.sources.includes(s)) known.sources.push(s);
        } else {
          merged.set(ep.key, { ...ep, sources: [...ep.sources] });
        }
      }
    }
    return [...merged.values()];
  }

  problems(): string[] {
    return this.sources.flatMap((s) => s.problems());
  }

  sourceNames(): string[] {
    return this.sources.map((s) => s.describe?.() ?? s.name);
  }

  async stop(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.stop()));
  }
}
