import { isIP } from 'node:net';
import { LINK_LOCAL, LOOPBACK, NOT_UNICAST } from '../util/ip-ranges.js';

/**
 * What etcd-agent puts into and reads out of mDNS, as pure functions over the
 * decoded packets (`dns-packet` objects, typed here as `unknown` because they
 * come off the network): anything on the segment can send anything, so every
 * field is checked before it is believed, and a bad record is reported as a
 * reason rather than thrown.
 */

/** DNS-SD service type; bonjour-service writes it as `_etcd-agent._tcp`. */
export const MDNS_SERVICE_TYPE = 'etcd-agent';
/** The PTR name every agent answers under. */
export const MDNS_SERVICE_DOMAIN = '_etcd-agent._tcp.local';
/** Version of the TXT layout below; a reader refuses versions it does not know. */
export const MDNS_TXT_VERSION = '1';

/** Bounds well above what an agent sends (≈150 bytes), far below what a datagram can carry. */
export const MAX_TXT_BYTES = 1024;
export const MAX_TXT_ENTRIES = 32;
/** One TXT string is length-prefixed by one byte. */
export const MAX_TXT_ENTRY_BYTES = 255;
const MAX_NAME_BYTES = 255;
/** No peer is remembered longer than this without being heard again, whatever TTL it claims. */
export const MAX_TTL_S = 120;
/** A peer that claims a shorter TTL is still kept this long (we re-query every few seconds). */
export const MIN_TTL_S = 5;

/**
 * What one agent announces. Never the join token or anything derived from
 * it: mDNS is readable by every host on the segment.
 */
export interface MdnsAdvert {
  cluster: string;
  nodeId: string;
  name: string;
  /** Agent peer API port (also the SRV port). */
  port: number;
  /** The address the agent advertises to peers (etcd and peer API). */
  address: string;
  version: string;
}

/** TXT keys (short, as DNS-SD recommends). */
const KEY = {
  txtvers: 'txtvers',
  cluster: 'cluster',
  id: 'id',
  name: 'name',
  port: 'port',
  address: 'addr',
  version: 'ver',
} as const;

const CLUSTER_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const NODE_ID_RE = /^[0-9a-f]{32}$/;
const NODE_NAME_RE = /^[A-Za-z0-9._-]{1,63}$/;
const VERSION_RE = /^[\x21-\x7e]{1,64}$/;
const TXT_KEY_RE = /^[\x21-\x3c\x3e-\x7e]{1,32}$/;

export function advertTxt(a: MdnsAdvert): Record<string, string> {
  return {
    [KEY.txtvers]: MDNS_TXT_VERSION,
    [KEY.cluster]: a.cluster,
    [KEY.id]: a.nodeId,
    [KEY.name]: a.name,
    [KEY.port]: String(a.port),
    [KEY.address]: a.address,
    [KEY.version]: a.version,
  };
}

export function sameAdvert(a: MdnsAdvert | undefined, b: MdnsAdvert | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.cluster === b.cluster &&
    a.nodeId === b.nodeId &&
    a.name === b.name &&
    a.port === b.port &&
    a.address === b.address &&
    a.version === b.version
  );
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

export function isLoopbackIp(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Why `address` cannot be a peer's advertised address, or undefined when it
 * can. Loopback is believed only when this agent is itself on loopback (the
 * one-machine demo and tests): from another host it would only point a hello
 * back at ourselves.
 */
export function advertisedAddressProblem(address: string, allowLoopback: boolean): string | undefined {
  const family = isIP(address);
  if (family === 0) return `address ${JSON.stringify(address.slice(0, 64))} is not an IP address`;
  // Node's isIP accepts "fe80::1%eth0"; a zone names an interface of the host that reads it, never the peer's.
  if (address.includes('%')) return `address ${JSON.stringify(address.slice(0, 64))} carries a zone id; agents never advertise one`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (NOT_UNICAST.check(address, type)) return `address ${address} is not a unicast address`;
  if (LINK_LOCAL.check(address, type)) return `address ${address} is link-local; agents never advertise one`;
  if (!allowLoopback && LOOPBACK.check(address, type)) return `address ${address} is a loopback address`;
  return undefined;
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads an agent's TXT record (an array of byte strings `key=value`). Refuses
 * oversized or duplicated data, unknown layout versions and every field that
 * does not have the shape an agent writes.
 */
export function parseTxt(data: unknown, options: { allowLoopback: boolean }): Parsed<MdnsAdvert> {
  if (!Array.isArray(data)) return { ok: false, problem: 'TXT data is not a list of strings' };
  if (data.length > MAX_TXT_ENTRIES) return { ok: false, problem: `TXT has ${data.length} strings (at most ${MAX_TXT_ENTRIES})` };
  const fields = new Map<string, string>();
  let total = 0;
  for (const item of data as unknown[]) {
    if (!(item instanceof Uint8Array)) return { ok: false, problem: 'TXT holds something that is not a byte string' };
    total += item.length;
    if (item.length > MAX_TXT_ENTRY_BYTES) return { ok: false, problem: `a TXT string is ${item.length} bytes (at most ${MAX_TXT_ENTRY_BYTES})` };
    if (total > MAX_TXT_BYTES) return { ok: false, problem: `TXT is over ${MAX_TXT_BYTES} bytes` };
    if (item.length === 0) continue;
    let text: string;
    try {
      text = utf8.decode(item);
    } catch {
      return { ok: false, problem: 'a TXT string is not UTF-8' };
    }
    const eq = text.indexOf('=');
    // A key without "=" is a boolean attribute in DNS-SD; agents write none, so it carries nothing we use.
    const key = (eq < 0 ? text : text.slice(0, eq)).toLowerCase();
    if (!TXT_KEY_RE.test(key)) return { ok: false, problem: `TXT key ${JSON.stringify(key.slice(0, 32))} is not printable ASCII` };
    if (fields.has(key)) return { ok: false, problem: `TXT key ${key} appears twice` };
    fields.set(key, eq < 0 ? '' : text.slice(eq + 1));
  }
  const txtvers = fields.get(KEY.txtvers);
  if (txtvers === undefined) return { ok: false, problem: 'TXT has no txtvers' };
  if (txtvers !== MDNS_TXT_VERSION) return { ok: false, problem: `TXT layout version ${JSON.stringify(txtvers.slice(0, 16))} is not supported (this agent reads ${MDNS_TXT_VERSION})` };

  const need = (key: string): Parsed<string> => {
    const v = fields.get(key);
    return v === undefined ? { ok: false, problem: `TXT has no ${key}` } : { ok: true, value: v };
  };
  const cluster = need(KEY.cluster);
  if (!cluster.ok) return cluster;
  if (!CLUSTER_RE.test(cluster.value)) return { ok: false, problem: 'TXT cluster is not a valid cluster name' };
  const id = need(KEY.id);
  if (!id.ok) return id;
  if (!NODE_ID_RE.test(id.value)) return { ok: false, problem: 'TXT id is not 32 hex digits' };
  const name = need(KEY.name);
  if (!name.ok) return name;
  if (!NODE_NAME_RE.test(name.value)) return { ok: false, problem: 'TXT name is not a valid member name' };
  const portText = need(KEY.port);
  if (!portText.ok) return portText;
  const port = parsePort(portText.value);
  if (port === undefined) return { ok: false, problem: `TXT port ${JSON.stringify(portText.value.slice(0, 16))} is not a port (1 to 65535)` };
  const address = need(KEY.address);
  if (!address.ok) return address;
  const addressProblem = advertisedAddressProblem(address.value, options.allowLoopback);
  if (addressProblem) return { ok: false, problem: `TXT ${addressProblem}` };
  const version = fields.get(KEY.version) ?? 'unknown';
  if (!VERSION_RE.test(version)) return { ok: false, problem: 'TXT ver is not printable ASCII of at most 64 characters' };
  return { ok: true, value: { cluster: cluster.value, nodeId: id.value, name: name.value, port, address: address.value, version } };
}

// ---- response packets ------------------------------------------------------

/** One service instance described completely (SRV and TXT) in one response. */
export interface ServiceSighting {
  /** Lower-case instance name, e.g. `h1-0a1b2c3d._etcd-agent._tcp.local`. */
  fqdn: string;
  /** Seconds, the smallest TTL among its records, clamped to [MIN_TTL_S, MAX_TTL_S]. */
  ttl: number;
  srvPort: number;
  txt: unknown;
}

export interface ResponseReading {
  sightings: ServiceSighting[];
  /** Instances announced with TTL 0 (goodbye). */
  goodbyes: string[];
  /** Records under our service type that were ignored, and why. */
  ignored: { fqdn: string; problem: string }[];
  /** Every record name in the packet, lower-case (to tell our own echo from other hosts). */
  names: Set<string>;
  /** PTR targets in the packet, lower-case. */
  ptrTargets: Set<string>;
}

interface Rr {
  name: string;
  type: string;
  ttl: number;
  data: unknown;
}

function asRecord(value: unknown): Rr | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r.name !== 'string' || typeof r.type !== 'string') return undefined;
  const ttl = typeof r.ttl === 'number' && Number.isFinite(r.ttl) && r.ttl >= 0 ? r.ttl : undefined;
  if (ttl === undefined) return undefined;
  return { name: normaliseName(r.name), type: r.type, ttl, data: r.data };
}

/** DNS names compare case-insensitively and may carry a trailing dot. */
export function normaliseName(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}

function isInstanceName(name: string): boolean {
  return name.length <= MAX_NAME_BYTES && name.endsWith(`.${MDNS_SERVICE_DOMAIN}`) && name.length > MDNS_SERVICE_DOMAIN.length + 1;
}

function recordsOf(packet: unknown): Rr[] {
  if (typeof packet !== 'object' || packet === null) return [];
  const p = packet as Record<string, unknown>;
  const out: Rr[] = [];
  for (const section of [p.answers, p.additionals]) {
    if (!Array.isArray(section)) continue;
    for (const item of section as unknown[]) {
      const rr = asRecord(item);
      if (rr) out.push(rr);
    }
  }
  return out;
}

/**
 * Reads a decoded mDNS response: which `_etcd-agent._tcp` instances it
 * describes completely, which say goodbye, and which records are unusable.
 * A packet is read on its own (no cache across packets): bonjour-service,
 * like every DNS-SD responder, sends PTR, SRV and TXT of an instance together.
 */
export function readResponse(packet: unknown): ResponseReading {
  const records = recordsOf(packet);
  const reading: ResponseReading = { sightings: [], goodbyes: [], ignored: [], names: new Set(), ptrTargets: new Set() };
  const instances = new Set<string>();
  const goodbye = new Set<string>();
  for (const rr of records) {
    reading.names.add(rr.name);
    if (rr.type === 'PTR' && typeof rr.data === 'string') reading.ptrTargets.add(normaliseName(rr.data));
    if (rr.type === 'PTR' && rr.name === MDNS_SERVICE_DOMAIN) {
      if (typeof rr.data !== 'string') {
        reading.ignored.push({ fqdn: MDNS_SERVICE_DOMAIN, problem: 'PTR data is not a name' });
        continue;
      }
      const target = normaliseName(rr.data);
      if (!isInstanceName(target)) {
        reading.ignored.push({ fqdn: target.slice(0, 80), problem: `PTR points to ${JSON.stringify(target.slice(0, 80))}, not an ${MDNS_SERVICE_DOMAIN} instance` });
        continue;
      }
      if (rr.ttl === 0) goodbye.add(target);
      else instances.add(target);
    } else if ((rr.type === 'SRV' || rr.type === 'TXT') && isInstanceName(rr.name)) {
      if (rr.ttl === 0) goodbye.add(rr.name);
      else instances.add(rr.name);
    }
  }
  for (const fqdn of instances) {
    if (goodbye.has(fqdn)) continue;
    const mine = records.filter((r) => r.ttl > 0 && r.name === fqdn);
    const srvs = mine.filter((r) => r.type === 'SRV');
    const txts = mine.filter((r) => r.type === 'TXT');
    if (srvs.length === 0 || txts.length === 0) {
      reading.ignored.push({ fqdn, problem: `incomplete: ${srvs.length === 0 ? 'no SRV' : 'no TXT'} record in the same packet` });
      continue;
    }
    const ports = new Set<number>();
    let bad: string | undefined;
    for (const srv of srvs) {
      const d = srv.data;
      const port = typeof d === 'object' && d !== null ? (d as Record<string, unknown>).port : undefined;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        bad = `SRV port ${JSON.stringify(port)} is not a port (1 to 65535)`;
        break;
      }
      ports.add(port);
    }
    if (bad === undefined && ports.size > 1) bad = `conflicting SRV records (ports ${[...ports].join(', ')})`;
    if (bad === undefined && txts.length > 1 && !txts.every((t) => sameTxt(t.data, txts[0]!.data))) bad = 'conflicting TXT records';
    if (bad !== undefined) {
      reading.ignored.push({ fqdn, problem: bad });
      continue;
    }
    const ptr = records.find((r) => r.type === 'PTR' && r.name === MDNS_SERVICE_DOMAIN && typeof r.data === 'string' && normaliseName(r.data) === fqdn);
    const ttl = Math.min(...mine.map((r) => r.ttl), ...(ptr ? [ptr.ttl] : []));
    reading.sightings.push({
      fqdn,
      ttl: Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, ttl)),
      srvPort: [...ports][0]!,
      txt: txts[0]!.data,
    });
  }
  reading.goodbyes = [...goodbye];
  return reading;
}

function sameTxt(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((x: unknown, i) => {
    const y: unknown = b[i];
    return x instanceof Uint8Array && y instanceof Uint8Array && Buffer.compare(x, y) === 0;
  });
}

/** A sighting made into an advert: TXT valid and consistent with the SRV record. */
export function advertOf(sighting: ServiceSighting, options: { allowLoopback: boolean }): Parsed<MdnsAdvert> {
  const parsed = parseTxt(sighting.txt, options);
  if (!parsed.ok) return parsed;
  if (parsed.value.port !== sighting.srvPort) {
    return { ok: false, problem: `conflicting ports: TXT says ${parsed.value.port}, SRV says ${sighting.srvPort}` };
  }
  return parsed;
}
