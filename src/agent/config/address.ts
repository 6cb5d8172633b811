import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { canonicalIp } from '../../pki/ip.js';
import { LINK_LOCAL, LOOPBACK, NOT_UNICAST } from '../../util/ip-ranges.js';

/** Address helpers for the config: host[:port] parsing, loopback tests, interface scanning. */

const loopback = LOOPBACK;

const notUnicast = NOT_UNICAST;

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), if it is one. */
function mappedV4(ip: string): string | undefined {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m?.[1] !== undefined && isIPv4(m[1]) ? m[1] : undefined;
}

export function isLoopbackAddress(ip: string): boolean {
  const v4 = isIPv4(ip) ? ip : mappedV4(ip);
  if (v4 !== undefined) return loopback.check(v4, 'ipv4');
  return isIPv6(ip) && loopback.check(ip, 'ipv6');
}


/**
 * Why `ip` cannot be this node's advertised address, or undefined when it can.
 * The address goes into the node's certificate (src/pki) and etcd's URLs, so
 * anything those cannot carry is refused here, before the agent starts, rather
 * than by the signer later in a retry loop.
 */
export function advertiseAddressProblem(ip: string): string | undefined {
  if (isIP(ip) === 0) return 'is not an IP address (a DNS name is not allowed here)';
  if (ip.includes('%')) return "has a zone id (%...), which a certificate and etcd's URLs cannot carry";
  // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
  const v4 = isIPv4(ip) ? ip : mappedV4(ip);
  const [addr, family] = v4 !== undefined ? [v4, 'ipv4' as const] : [ip, 'ipv6' as const];
  if (notUnicast.check(addr, family)) return 'is not a unicast address (0.0.0.0, ::, broadcast and multicast are not allowed)';
  if (LINK_LOCAL.check(addr, family)) return 'is a link-local address (169.254.0.0/16, fe80::/10), usable only together with an interface';
  if (canonicalIp(ip) === undefined) return 'cannot be written into a certificate';
  return undefined;
}

const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^(?=.{1,253}\\.?$)${DNS_LABEL}(?:\\.${DNS_LABEL})*\\.?$`);

/** An IP literal or a DNS name. Dotted digits that are not a valid IPv4 address are refused. */
export function hostProblem(host: string): string | undefined {
  if (host === '') return 'has an empty host';
  if (isIP(host) !== 0) return undefined;
  if (/^[\d.]+$/.test(host)) return `host ${host} is not a valid IPv4 address`;
  if (!DNS_NAME.test(host)) return `host ${host} is neither an IP address nor a DNS name`;
  return undefined;
}

export type HostPort = { host: string; port: number } | { problem: string };

/**
 * Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address
 * (which then has no port). The port defaults to `defaultPort`.
 */
export function parseHostPort(input: string, defaultPort: number): HostPort {
  const text = input.trim();
  if (text === '') return { problem: 'is empty' };
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { problem: 'has "[" without a closing "]"' };
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { problem: `has unexpected text "${rest}" after "]"` };
      portText = rest.slice(1);
    }
    if (!isIPv6(host)) return { problem: `[${host}] is not an IPv6 address` };
  } else {
    const colons = text.split(':').length - 1;
    if (colons > 1) {
      if (!isIPv6(text)) return { problem: 'has several ":"; write an IPv6 address with a port as [addr]:port' };
      host = text;
    } else if (colons === 1) {
      const at = text.indexOf(':');
      host = text.slice(0, at);
      portText = text.slice(at + 1);
    } else {
      host = text;
    }
  }
  const hp = hostProblem(host);
  if (hp !== undefined) return { problem: hp };
  if (portText === undefined) return { host, port: defaultPort };
  if (!/^\d+$/.test(portText)) return { problem: `port "${portText}" is not a number; allowed: 1 to 65535` };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { problem: `port ${port} is out of range; allowed: 1 to 65535` };
  return { host, port };
}

/** `[::1]:2390` for IPv6, `10.0.0.1:2390` otherwise. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export type InterfaceMap = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The first non-internal IPv4 address (link-local 169.254/16 skipped) of
 * `only` when given, else of every interface in the order the OS lists them.
 */
export function pickAdvertiseAddress(
  interfaces: InterfaceMap,
  only?: string,
): { address: string; iface: string } | undefined {
  for (const [name, infos] of Object.entries(interfaces)) {
    if (only !== undefined && name !== only) continue;
    for (const info of infos ?? []) {
      if (info.internal || info.family !== 'IPv4') continue;
      if (info.address.startsWith('169.254.')) continue;
      return { address: info.address, iface: name };
    }
  }
  return undefined;
}

/** Whether any interface holds `ip`. */
export function isLocalAddress(interfaces: InterfaceMap, ip: string): boolean {
  return Object.values(interfaces).some((infos) => (infos ?? []).some((i) => i.address === ip));
}
