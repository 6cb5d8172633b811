import { isIPv6 } from 'node:net';
import { canonicalIp } from '../../pki/ip.js';

/**
 * Who a connection counts against when the peer API shares its limits out:
 * an IPv4 address (also when it arrives IPv4-mapped), or an IPv6 /64 — one
 * host usually holds a whole /64, so counting single IPv6 addresses would let
 * it take every slot.
 */
export function sourceKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remoteAddress)?.[1];
  if (mapped) return mapped;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const canonical = canonicalIp(remoteAddress.split('%')[0] ?? remoteAddress) ?? remoteAddress;
  const [head = '', tail] = canonical.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...front, ...new Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups.slice(0, 4).join(':')}::/64`;
}
