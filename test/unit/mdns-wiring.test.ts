/**
 * How the agent's config turns into discovery sources: mDNS only when
 * discovery.mdns is on, on the configured interface or the one holding the
 * advertise address, with an announcement that carries no secret.
 */
import t from 'tap';
import type { NetworkInterfaceInfo } from 'node:os';
import type { AgentConfig } from '../../src/agent/config/types.js';
import { discoverySources, mdnsInterface } from '../../src/agent/discovery-sources.js';
import { MdnsSource } from '../../src/discovery/mdns.js';
import { silentLogger } from '../../src/util/log.js';

const TOKEN = 'super-secret-join-token-value-0123456789';

function config(over: { mdns?: boolean; mdnsInterface?: string; advertiseAddress?: string } = {}): AgentConfig {
  const partial = {
    cluster: { name: 'prod', size: 3, token: TOKEN },
    node: { name: 'h1', advertiseAddress: over.advertiseAddress ?? '10.9.0.11', advertiseAddressSource: 'config' },
    discovery: { mdns: over.mdns ?? true, seeds: [], ...(over.mdnsInterface ? { mdnsInterface: over.mdnsInterface } : {}) },
    peerApi: { listenAddress: '0.0.0.0', port: 2390 },
  };
  // Only the fields discovery reads; the rest of AgentConfig is irrelevant here.
  return partial as unknown as AgentConfig;
}

const iface = (address: string, family: 'IPv4' | 'IPv6' = 'IPv4'): NetworkInterfaceInfo =>
  family === 'IPv4'
    ? { address, family, netmask: '255.255.255.0', mac: '02:00:00:00:00:01', internal: false, cidr: `${address}/24` }
    : { address, family, netmask: 'ffff:ffff:ffff:ffff::', mac: '02:00:00:00:00:01', internal: false, cidr: `${address}/64`, scopeid: 0 };
const interfaces = {
  lo: [{ address: '127.0.0.1', family: 'IPv4', netmask: '255.0.0.0', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' } as NetworkInterfaceInfo],
  eth0: [iface('192.168.1.5')],
  eth1: [iface('10.9.0.11'), iface('fd00::11', 'IPv6')],
};

t.test('mDNS runs on the interface that holds the advertise address', async (t) => {
  t.same(mdnsInterface(config(), interfaces), { interfaceName: 'eth1' });
  t.same(mdnsInterface(config({ advertiseAddress: 'fd00::11' }), interfaces), { interfaceName: 'eth1' }, 'IPv6 advertise address: its interface, mDNS over its IPv4');
  t.same(mdnsInterface(config({ mdnsInterface: 'eth0' }), interfaces), { interfaceName: 'eth0' }, 'discovery.mdnsInterface wins');
  t.same(mdnsInterface(config({ advertiseAddress: '127.0.0.12' }), interfaces), { interfaceName: 'lo', interfaceAddress: '127.0.0.1' }, 'loopback agents share 127.0.0.1');
  t.same(mdnsInterface(config({ advertiseAddress: '10.1.1.1' }), interfaces), {}, 'no interface holds it: the source reports that');
});

t.test('sources: seeds always, mDNS only when enabled', async (t) => {
  const self = { nodeId: 'a'.repeat(32), version: '0.1.0' };
  const off = discoverySources(config({ mdns: false }), self, silentLogger());
  t.same(off.map((s) => s.name), ['seed']);
  const on = discoverySources(config({ mdns: true }), self, silentLogger());
  t.same(on.map((s) => s.name), ['seed', 'mdns']);
  t.ok(on[1] instanceof MdnsSource);
  // The announcement is built from public facts only: no token anywhere in the source's state.
  const seen = new WeakSet<object>();
  const holdsToken = (v: unknown, depth = 0): boolean => {
    if (typeof v === 'string') return v.includes(TOKEN);
    if (typeof v === 'function') return holdsToken((v as () => unknown).length === 0 ? safeCall(v as () => unknown) : undefined, depth + 1);
    if (typeof v !== 'object' || v === null || seen.has(v) || depth > 6) return false;
    seen.add(v);
    return Object.values(v).some((x) => holdsToken(x, depth + 1));
  };
  t.notOk(holdsToken(on[1]), 'the mDNS source never holds the join token');
  t.match((on[1] as MdnsSource).describe(), /announcing 10\.9\.0\.11:2390/);
});

function safeCall(f: () => unknown): unknown {
  try {
    return f();
  } catch {
    return undefined;
  }
}
