import { isIPv4, isIPv6 } from 'node:net';

/**
 * One text form per address, so policy comparisons cannot be fooled by
 * '::1' vs '0:0:0:0:0:0:0:1'. IPv6 uses the WHATWG URL serializer (lowercase,
 * longest zero run compressed), which is what RFC 5952 asks for except that
 * IPv4-mapped addresses come out in hex — consistent both ways, which is all we need.
 */
export function canonicalIp(text: string): string | undefined {
  if (isIPv4(text)) return text; // node's isIPv4 already refuses leading zeros and out-of-range octets
  if (!isIPv6(text) || text.includes('%')) return undefined; // zone ids mean nothing in a certificate
  const host = new URL(`http://[${text}]/`).hostname;
  return host.slice(1, -1);
}

export function ipToBytes(text: string): Buffer | undefined {
  const canonical = canonicalIp(text);
  if (canonical === undefined) return undefined;
  if (isIPv4(canonical)) return Buffer.from(canonical.split('.').map(Number));
  const [head = '', tail] = canonical.split('::');
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Certificates carry IP SANs as 4 or 16 raw bytes; anything else is malformed. */
export function ipFromBytes(bytes: Buffer): string | undefined {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return canonicalIp(groups.join(':'));
}
