/** An address where another agent's peer API may be listening. */
export interface PeerEndpoint {
  /** `address:port` (IPv6 in brackets): the key the peer set merges on. */
  key: string;
  address: string;
  port: number;
  /** Which sources reported it: 'seed', 'mdns'. */
  sources: string[];
  /** Free text from the source, e.g. the seed as written in the config. */
  origin: string;
}

/** A source of candidate peer endpoints. Sources never authenticate anything. */
export interface DiscoverySource {
  readonly name: string;
  start(): Promise<void>;
  /** One round of refreshing (resolve seeds again, re-query mDNS). Never throws. */
  refresh(): Promise<void>;
  endpoints(): PeerEndpoint[];
  /** Problems worth showing in /status, in words. */
  problems(): string[];
  /** Optional one-line description for /status (where it runs, what it announces). */
  describe?(): string;
  stop(): Promise<void>;
}

export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
