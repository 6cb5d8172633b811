/**
 * Hand-made mDNS packets for tests: well-formed agent announcements and a
 * catalogue of hostile ones (truncated, garbage, oversized, lying). Encoded
 * here byte by byte, with no DNS library, so a test can also produce what no
 * library would (bad lengths, pointer loops, wrong record layouts).
 */
import { randomBytes } from 'node:crypto';

export const RR_TYPE = { A: 1, PTR: 12, TXT: 16, SRV: 33, ANY: 255 } as const;
export const SERVICE = '_etcd-agent._tcp.local';

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A DNS name as length-prefixed labels (no compression). */
export function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
}

/** One resource record; `rdata` is taken as is (its length is written in front of it). */
export function rr(name: string, type: number, ttl: number, rdata: Buffer, cacheFlush = false): Buffer {
  return Buffer.concat([encodeName(name), u16(type), u16(cacheFlush ? 0x8001 : 1), u32(ttl), u16(rdata.length), rdata]);
}

export const rec = {
  ptr: (name: string, target: string, ttl = 4500) => rr(name, RR_TYPE.PTR, ttl, encodeName(target)),
  srv: (name: string, port: number, target: string, ttl = 120) =>
    rr(name, RR_TYPE.SRV, ttl, Buffer.concat([u16(0), u16(0), u16(port), encodeName(target)]), true),
  txt: (name: string, strings: (string | Buffer)[], ttl = 4500) =>
    rr(
      name,
      RR_TYPE.TXT,
      ttl,
      Buffer.concat(
        strings.map((s) => {
          const b = typeof s === 'string' ? Buffer.from(s) : s;
          return Buffer.concat([Buffer.from([Math.min(b.length, 255)]), b.subarray(0, 255)]);
        }),
      ),
      true,
    ),
  a: (name: string, ip: string, ttl = 120) => rr(name, RR_TYPE.A, ttl, Buffer.from(ip.split('.').map(Number)), true),
};

/** A response packet (QR and AA set), as an mDNS responder sends it. */
export function response(answers: Buffer[], additionals: Buffer[] = []): Buffer {
  return Buffer.concat([u16(0), u16(0x8400), u16(0), u16(answers.length), u16(0), u16(additionals.length), ...answers, ...additionals]);
}

/** A query packet for `name`/`type`. */
export function query(name: string, type: number = RR_TYPE.PTR): Buffer {
  return Buffer.concat([u16(0), u16(0), u16(1), u16(0), u16(0), u16(0), encodeName(name), u16(type), u16(1)]);
}

export interface AnnouncementFields {
  instance: string;
  cluster: string;
  nodeId: string;
  name: string;
  port: number;
  address: string;
  version?: string;
  /** SRV port; defaults to `port`. */
  srvPort?: number;
  ttl?: number;
  /** TXT strings instead of the agent's layout. */
  txt?: (string | Buffer)[];
}

/** What an agent announces (PTR, SRV, TXT, A), with any field overridable to lie. */
export function announcement(f: AnnouncementFields): Buffer {
  const fqdn = `${f.instance}.${SERVICE}`;
  const host = `${f.instance}.local`;
  const ttl = f.ttl ?? 120;
  const txt = f.txt ?? [
    'txtvers=1',
    `cluster=${f.cluster}`,
    `id=${f.nodeId}`,
    `name=${f.name}`,
    `port=${f.port}`,
    `addr=${f.address}`,
    `ver=${f.version ?? '0.1.0'}`,
  ];
  return response(
    [rec.ptr(SERVICE, fqdn, ttl), rec.srv(fqdn, f.srvPort ?? f.port, host, ttl), rec.txt(fqdn, txt, ttl)],
    [rec.a(host, /^\d+\.\d+\.\d+\.\d+$/.test(f.address) ? f.address : '10.255.255.254', ttl)],
  );
}

/**
 * Packets that must not disturb anything: the agent ignores them (debug log)
 * and carries on. `cluster` makes the lying ones look like our own cluster;
 * `unreachable` is an address where no agent listens (an impostor endpoint).
 */
export function hostilePackets(o: { cluster: string; unreachable: string; port?: number }): { label: string; packet: Buffer }[] {
  const port = o.port ?? 2390;
  const id = () => randomBytes(16).toString('hex');
  const base = (instance: string, extra: Partial<AnnouncementFields> = {}) =>
    announcement({ instance, cluster: o.cluster, nodeId: id(), name: instance, port, address: o.unreachable, ...extra });
  const valid = base('evil-valid');
  const goodTxt = (over: Record<string, string>) => {
    const f: Record<string, string> = { txtvers: '1', cluster: o.cluster, id: id(), name: 'evil', port: String(port), addr: o.unreachable, ver: '0.1.0', ...over };
    return Object.entries(f).map(([k, v]) => `${k}=${v}`);
  };
  const loop = Buffer.concat([u16(0), u16(0x8400), u16(0), u16(1), u16(0), u16(0), Buffer.from([0xc0, 12]), u16(RR_TYPE.PTR), u16(1), u32(120), u16(2), Buffer.from([0xc0, 12])]);
  return [
    { label: 'random bytes', packet: randomBytes(300) },
    { label: 'truncated header', packet: Buffer.from([0, 0, 0x84]) },
    { label: 'header claims 65535 answers', packet: Buffer.concat([u16(0), u16(0x8400), u16(0), u16(65535), u16(65535), u16(65535)]) },
    { label: 'truncated announcement', packet: valid.subarray(0, Math.floor(valid.length / 2)) },
    { label: 'announcement cut before its TXT ends', packet: valid.subarray(0, valid.length - 20) },
    { label: 'name compression pointer loop', packet: loop },
    { label: 'garbage TXT', packet: base('evil-garbage', { txt: [randomBytes(40), randomBytes(200), Buffer.from([0xff, 0x3d, 0xfe])] }) },
    { label: 'TXT without txtvers', packet: base('evil-nover', { txt: ['cluster=' + o.cluster, 'addr=' + o.unreachable] }) },
    { label: 'huge TXT', packet: base('evil-huge', { txt: [...goodTxt({}), ...Array.from({ length: 20 }, (_, i) => `pad${i}=${'x'.repeat(248)}`)] }) },
    { label: 'non-IP address', packet: base('evil-name', { txt: goodTxt({ addr: 'attacker.example.com' }) }) },
    { label: 'multicast address', packet: base('evil-mcast', { txt: goodTxt({ addr: '224.0.0.251' }) }) },
    { label: 'loopback address', packet: base('evil-lo', { txt: goodTxt({ addr: '127.0.0.1' }) }) },
    { label: 'port out of range', packet: base('evil-port', { txt: goodTxt({ port: '99999' }), srvPort: 9999 }) },
    { label: 'TXT and SRV disagree on the port', packet: base('evil-srv', { srvPort: port + 1 }) },
    {
      label: 'conflicting SRV records',
      packet: response([
        rec.ptr(SERVICE, `evil-dup.${SERVICE}`),
        rec.srv(`evil-dup.${SERVICE}`, port, 'x.local'),
        rec.srv(`evil-dup.${SERVICE}`, port + 7, 'x.local'),
        rec.txt(`evil-dup.${SERVICE}`, goodTxt({})),
      ]),
    },
    {
      label: 'wrong record types (A data as SRV, SRV data as TXT)',
      packet: response([
        rec.ptr(SERVICE, `evil-types.${SERVICE}`),
        rr(`evil-types.${SERVICE}`, RR_TYPE.SRV, 120, Buffer.from([10, 0])),
        rr(`evil-types.${SERVICE}`, RR_TYPE.TXT, 120, Buffer.concat([u16(0), u16(0), u16(port)])),
      ]),
    },
    { label: 'PTR to a non-instance', packet: response([rec.ptr(SERVICE, 'printer._ipp._tcp.local')]) },
    { label: 'valid-looking impostor where no agent listens', packet: valid },
    { label: 'query for ANY', packet: query(SERVICE, RR_TYPE.ANY) },
    { label: 'query with a garbage name', packet: Buffer.concat([u16(0), u16(0), u16(1), u16(0), u16(0), u16(0), Buffer.from([63]), randomBytes(63), Buffer.from([0]), u16(RR_TYPE.PTR), u16(1)]) },
  ];
}
