import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { MdnsSource, SeedSource, isLoopbackIp, type DiscoverySource } from '../discovery/index.js';
import type { Logger } from '../util/log.js';
import type { AgentConfig } from './config/types.js';

/** Everything discovery needs to know about this node to advertise it. */
export interface SelfAdvert {
  nodeId: string;
  version: string;
}

/** The discovery sources the config asks for, in the order their endpoints are tried. */
export function discoverySources(config: AgentConfig, self: SelfAdvert, logger: Logger): DiscoverySource[] {
  const selfEndpoint = { addresses: [config.node.advertiseAddress], port: config.peerApi.port };
  const sources: DiscoverySource[] = [new SeedSource(config.discovery.seeds, selfEndpoint)];
  if (config.discovery.mdns) {
    // Only public facts go into the announcement; the token stays out of mDNS
    // entirely (it is not even handed to the source).
    const advert = {
      cluster: config.cluster.name,
      nodeId: self.nodeId,
      name: config.node.name,
      port: config.peerApi.port,
      address: config.node.advertiseAddress,
      version: self.version,
    };
    sources.push(new MdnsSource({ advert: () => advert, ...mdnsInterface(config), logger }));
  }
  return sources;
}

/**
 * Where mDNS runs: `discovery.mdnsInterface` when set, else the interface that
 * holds the advertise address. Agents on loopback addresses (one-machine demo
 * and tests) share 127.0.0.1 — the only address of `lo` that can join a group.
 */
export function mdnsInterface(
  config: AgentConfig,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): { interfaceName?: string; interfaceAddress?: string } {
  const configured = config.discovery.mdnsInterface;
  if (configured !== undefined) {
    return configured === 'lo' ? { interfaceName: 'lo', interfaceAddress: '127.0.0.1' } : { interfaceName: configured };
  }
  const advertise = config.node.advertiseAddress;
  if (isLoopbackIp(advertise)) return { interfaceName: 'lo', interfaceAddress: '127.0.0.1' };
  for (const [name, infos] of Object.entries(interfaces)) {
    if ((infos ?? []).some((i) => i.address === advertise)) return { interfaceName: name };
  }
  return {};
}
