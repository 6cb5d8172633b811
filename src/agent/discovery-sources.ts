import { SeedSource, type DiscoverySource } from '../discovery/index.js';
import type { Logger } from '../util/log.js';
import type { AgentConfig } from './config/types.js';

/** Everything discovery needs to know about this node to advertise it. */
export interface SelfAdvert {
  nodeId: string;
  version: string;
}

/** The discovery sources the config asks for, in the order their endpoints are tried. */
export function discoverySources(config: AgentConfig, _self: SelfAdvert, _logger: Logger): DiscoverySource[] {
  const self = { addresses: [config.node.advertiseAddress], port: config.peerApi.port };
  const sources: DiscoverySource[] = [new SeedSource(config.discovery.seeds, self)];
  return sources;
}
