import type { RemoteInfo } from 'node:dgram';
import { networkInterfaces as osNetworkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type Bonjour from 'bonjour-service';
import type { Logger } from '../util/log.js';
import { describeError } from '../util/errors.js';
import { MdnsNoInterface, MdnsSocketFailed } from './errors.js';
import {
  MDNS_SERVICE_DOMAIN,
  MDNS_SERVICE_TYPE,
  advertOf,
  advertTxt,
  isLoopbackIp,
  normaliseName,
  readResponse,
  sameAdvert,
  type MdnsAdvert,
  type ResponseReading,
} from './mdns-records.js';
import { MdnsHealth, MdnsPeerTable } from './mdns-peers.js';
import type { DiscoverySource, PeerEndpoint } from './types.js';

export type InterfaceMap = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface MdnsOptions {
  /** What to announce; read again every round, and re-announced when it changes. */
  advert: () => MdnsAdvert;
  /** Interface name, for messages and to follow its IPv4 address when that changes. */
  interfaceName?: string;
  /** A fixed IPv4 address to run on instead of the interface's (loopback: 127.0.0.1). */
  interfaceAddress?: string;
  logger: Logger;
  /** UDP port of mDNS; tests use another so they never touch the real segment. */
  port?: number;
  /** How long without any answer before /status says so (default 30 s). */
  silenceMs?: number;
  /** Minimum time between our PTR queries (default 5 s). */
  queryIntervalMs?: number;
  networkInterfaces?: () => InterfaceMap;
  now?: () => number;
}

/** The parts of multicast-dns (inside bonjour-service) this source uses. */
interface MdnsTransport {
  on(event: 'response', listener: (packet: unknown, rinfo: RemoteInfo) => void): unknown;
  on(event: 'error' | 'warning', listener: (err: unknown) => void): unknown;
  query(name: string, type: string, callback: (err: unknown) => void): void;
}

interface Responder {
  bonjour: Bonjour;
  transport: MdnsTransport;
  /** IPv4 address the socket joined the group on and sends from. */
  address: string;
  service?: Bonjour.Service;
  advert?: MdnsAdvert;
  /** Lower-case names of our own records, to tell our multicast echo from other hosts. */
  ownNames: Set<string>;
  fqdn?: string;
}

const SOCKET_RETRY_MS = 30_000;
/** An interface without an address (DHCP not done yet) is looked at again soon. */
const INTERFACE_RETRY_MS = 5000;
const STOP_WAIT_MS = 1000;
const IGNORED_LOG_EVERY_MS = 60_000;

/**
 * Finds other agents by mDNS (`_etcd-agent._tcp`) and announces this one.
 *
 * bonjour-service answers queries for our service and sends the goodbye on
 * stop; browsing is done here on the raw responses (bonjour's own Browser
 * keeps a peer for the PTR TTL of 8 hours, never refreshes `lastSeen`, and
 * runs its record parsing inside the socket's event handler, where one
 * malformed record would throw out of it). Nothing heard here is trusted: an
 * endpoint is only a place to say the authenticated hello to.
 */
export class MdnsSource implements DiscoverySource {
  readonly name = 'mdns';
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly interfaces: () => InterfaceMap;
  private readonly table = new MdnsPeerTable();
  private health: MdnsHealth;
  private responder: Responder | undefined;
  private setupProblem: string | undefined;
  private retryAt = 0;
  private lastQueryAt = 0;
  private stopped = false;
  private Bonjour: typeof Bonjour | undefined;
  private readonly ignoredLogged = new Map<string, number>();
  private readonly otherClusters = new Set<string>();

  constructor(private readonly options: MdnsOptions) {
    this.logger = options.logger.child({ component: 'mdns' });
    this.now = options.now ?? Date.now;
    this.interfaces = options.networkInterfaces ?? osNetworkInterfaces;
    this.health = new MdnsHealth(this.now(), options.silenceMs);
  }

  async start(): Promise<void> {
    this.health = new MdnsHealth(this.now(), this.options.silenceMs);
    if ((await this.loadBonjour()) && !this.stopped) this.open();
  }

  async refresh(): Promise<void> {
    try {
      if (this.stopped) return;
      const now = this.now();
      const address = this.interfaceAddress();
      if (this.responder && address !== this.responder.address) {
        // The interface got a new address (DHCP, failover): the group membership and
        // the sending interface belong to the old one, so start over on the new one.
        this.logger.info({ from: this.responder.address, to: address ?? 'none' }, 'mDNS interface address changed; restarting mDNS');
        await this.close();
        this.retryAt = 0;
      }
      if (!this.responder && now >= this.retryAt && (await this.loadBonjour()) && !this.stopped) this.open();
      const r = this.responder;
      if (r && !sameAdvert(r.advert, this.options.advert())) await this.announce(r);
      if (r && now - this.lastQueryAt >= (this.options.queryIntervalMs ?? 5000)) this.query(r);
      for (const gone of this.table.expire(now)) {
        this.logger.info({ peer: gone.advert.name, address: gone.advert.address }, 'mDNS: peer not heard within its TTL; forgotten');
      }
    } catch (err) {
      // refresh() never throws (DiscoverySource contract); the problem shows in /status.
      this.setupProblem = describeError(err);
      this.logger.warn({ err: describeError(err) }, 'mDNS refresh failed');
    }
  }

  endpoints(): PeerEndpoint[] {
    return this.table.endpoints();
  }

  problems(): string[] {
    const out: string[] = [];
    if (this.setupProblem) out.push(this.setupProblem);
    if (this.responder) {
      out.push(
        ...this.health.problems(this.now(), {
          where: this.where(),
          iface: this.options.interfaceName ?? 'IFACE',
          cluster: this.options.advert().cluster,
          peers: this.table.size,
        }),
      );
    }
    return out;
  }

  /** For /status `discovery.sources`: where mDNS runs and what it announces. */
  describe(): string {
    const a = this.options.advert();
    const state = this.responder ? `on ${this.where()}` : `not running (${this.setupProblem ?? 'stopped'})`;
    return `mdns ${state}, announcing ${a.address}:${a.port} as ${this.responder?.fqdn ?? a.name}; ${this.table.size} peer(s) of cluster ${a.cluster} heard`;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.close();
  }

  // ---- socket lifecycle ----------------------------------------------------

  private where(): string {
    const address = this.responder?.address ?? this.interfaceAddress() ?? 'no address';
    return this.options.interfaceName ? `${this.options.interfaceName} (${address})` : address;
  }

  /** The IPv4 address mDNS runs on: the fixed one, or the interface's current first IPv4. */
  private interfaceAddress(): string | undefined {
    if (this.options.interfaceAddress) return this.options.interfaceAddress;
    const name = this.options.interfaceName;
    if (!name) return undefined;
    return (this.interfaces()[name] ?? []).find((i) => i.family === 'IPv4')?.address;
  }

  /**
   * bonjour-service is loaded with the first mDNS source, not at start-up: a
   * node with `discovery.mdns: false` never loads it. False (and the reason
   * in /status) when it cannot be loaded; refresh() tries again.
   */
  private async loadBonjour(): Promise<boolean> {
    if (this.Bonjour) return true;
    try {
      this.Bonjour = (await import('bonjour-service')).default;
      return true;
    } catch (err) {
      this.setupProblem = `mDNS cannot load bonjour-service: ${describeError(err)}`;
      this.retryAt = this.now() + SOCKET_RETRY_MS;
      return false;
    }
  }

  private open(): void {
    const Bonjour = this.Bonjour;
    if (!Bonjour) return;
    const address = this.interfaceAddress();
    if (!address) {
      const name = this.options.interfaceName;
      const what = name
        ? this.interfaces()[name] === undefined
          ? `this host has no interface ${name}`
          : `interface ${name} has no IPv4 address`
        : `no interface holds the advertise address ${this.options.advert().address}`;
      this.setupProblem = MdnsNoInterface(what).message;
      this.retryAt = this.now() + INTERFACE_RETRY_MS;
      return;
    }
    let bonjour: Bonjour;
    let transport: MdnsTransport;
    try {
      // `interface` makes multicast-dns join the group on, and send from, that
      // address (IP_MULTICAST_IF), which also works without a 224.0.0.0/4 route.
      // The socket must be bound to 0.0.0.0: bound to the unicast address it
      // receives no multicast at all on Linux.
      const opts: Partial<Bonjour.ServiceConfig> & { interface: string; bind: string } = {
        interface: address,
        bind: '0.0.0.0',
        ...(this.options.port !== undefined ? { port: this.options.port } : {}),
      };
      bonjour = new Bonjour(opts, (err: unknown) => this.sendFailed(err));
      transport = transportOf(bonjour);
    } catch (err) {
      this.setupProblem = MdnsSocketFailed(address, describeError(err)).message;
      this.retryAt = this.now() + SOCKET_RETRY_MS;
      return;
    }
    const r: Responder = { bonjour, transport, address, ownNames: new Set([MDNS_SERVICE_DOMAIN, '_services._dns-sd._udp.local']) };
    // Every handler catches: an exception out of an EventEmitter listener here
    // would surface as an uncaught exception inside the socket and end the agent.
    transport.on('error', (err) => this.guard(() => this.socketFailed(r, err)));
    transport.on('warning', (err) => this.guard(() => this.warning(err)));
    transport.on('response', (packet, rinfo) => this.guard(() => this.response(r, packet, rinfo)));
    this.responder = r;
    this.setupProblem = undefined;
    this.health.restart(this.now());
    this.logger.info({ address }, 'mDNS started');
    this.announce(r).catch((err: unknown) => {
      this.setupProblem = `mDNS cannot announce this agent: ${describeError(err)}`;
      this.logger.warn({ err: describeError(err) }, 'mDNS announce failed');
    });
    this.query(r);
  }

  private async close(): Promise<void> {
    const r = this.responder;
    if (!r) return;
    this.responder = undefined;
    // The goodbye (TTL 0) lets peers forget us at once instead of after the TTL.
    await bounded((done) => r.bonjour.unpublishAll(() => done()), STOP_WAIT_MS);
    await bounded((done) => {
      try {
        r.bonjour.destroy(() => done());
      } catch {
        done();
      }
    }, STOP_WAIT_MS);
  }

  private socketFailed(r: Responder, err: unknown): void {
    this.setupProblem = MdnsSocketFailed(r.address, describeError(err)).message;
    this.logger.warn({ err: describeError(err) }, 'mDNS socket failed; retrying later');
    if (this.responder === r) {
      this.responder = undefined;
      this.retryAt = this.now() + SOCKET_RETRY_MS;
      try {
        r.bonjour.destroy();
      } catch {
        // already closed
      }
    }
  }

  private warning(err: unknown): void {
    const syscall = typeof err === 'object' && err !== null ? (err as { syscall?: unknown }).syscall : undefined;
    if (syscall === 'send') this.sendFailed(err);
    else if (syscall === 'addMembership') this.health.groupFailed(describeError(err));
    // Anything else is a packet that does not decode (truncated, garbage): another host's problem.
    else this.ignored('packet', `undecodable packet: ${describeError(err)}`);
  }

  private sendFailed(err: unknown): void {
    const reason = describeError(err);
    this.health.sendFailed(reason, this.now());
    this.logger.debug({ err: reason }, 'mDNS send failed');
  }

  private query(r: Responder): void {
    this.lastQueryAt = this.now();
    r.transport.query(MDNS_SERVICE_DOMAIN, 'PTR', (err) =>
      this.guard(() => {
        if (err) this.sendFailed(err);
        else this.health.sendSucceeded();
      }),
    );
  }

  /** Publishes (or re-publishes, after a goodbye for the old records) our service. */
  private async announce(r: Responder): Promise<void> {
    const advert = this.options.advert();
    const previous = r.service;
    r.advert = advert;
    if (previous) await bounded((done) => previous.stop(() => done()), STOP_WAIT_MS);
    if (this.responder !== r) return;
    const instance = `${advert.name.replace(/\./g, '-').slice(0, 40)}-${advert.nodeId.slice(0, 8)}`;
    const host = `ea-${advert.nodeId.slice(0, 12)}.local`;
    r.service = r.bonjour.publish({
      name: instance,
      type: MDNS_SERVICE_TYPE,
      protocol: 'tcp',
      port: advert.port,
      host,
      txt: advertTxt(advert),
      // Probing would stop our announcement when anyone on the segment claims
      // the same name (bonjour-service then only console.logs); the name
      // carries our random node id, so a clash is an impostor, not an accident.
      probe: false,
      disableIPv6: true,
    });
    r.fqdn = normaliseName(r.service.fqdn);
    r.ownNames.add(r.fqdn);
    r.ownNames.add(normaliseName(host));
    if (previous) this.logger.info({ address: advert.address, port: advert.port }, 'mDNS: announcement changed; re-announced');
  }

  // ---- browsing --------------------------------------------------------------

  private response(r: Responder, packet: unknown, rinfo: RemoteInfo): void {
    if (this.responder !== r) return;
    const now = this.now();
    const reading = readResponse(packet);
    if (!isOwnEcho(reading, r.ownNames)) this.health.heardForeign(now);
    const self = this.options.advert();
    for (const fqdn of reading.goodbyes) {
      if (fqdn === r.fqdn) continue;
      const gone = this.table.goodbye(fqdn);
      if (gone) this.logger.info({ peer: gone.name, address: gone.address }, 'mDNS: peer said goodbye');
    }
    for (const { fqdn, problem } of reading.ignored) if (fqdn !== r.fqdn) this.ignored(fqdn, problem, rinfo);
    const allowLoopback = isLoopbackIp(self.address);
    for (const sighting of reading.sightings) {
      if (sighting.fqdn === r.fqdn) continue;
      const parsed = advertOf(sighting, { allowLoopback });
      if (!parsed.ok) {
        this.ignored(sighting.fqdn, parsed.problem, rinfo);
        continue;
      }
      const advert = parsed.value;
      if (advert.nodeId === self.nodeId) {
        this.ignored(sighting.fqdn, 'announces our own node id under another name', rinfo);
        continue;
      }
      if (advert.cluster !== self.cluster) {
        if (!this.otherClusters.has(advert.cluster) && this.otherClusters.size < 32) {
          this.otherClusters.add(advert.cluster);
          this.logger.debug({ cluster: advert.cluster, peer: advert.name }, 'mDNS: agent of another cluster; not ours');
        }
        continue;
      }
      this.health.heardCluster(now);
      const result = this.table.upsert(sighting.fqdn, advert, sighting.ttl, now);
      if (result === 'full') this.ignored(sighting.fqdn, 'too many mDNS peers remembered already', rinfo);
      else if (result !== 'refreshed') {
        this.logger.info({ peer: advert.name, nodeId: advert.nodeId, endpoint: `${advert.address}:${advert.port}` }, result === 'new' ? 'mDNS: found agent' : 'mDNS: agent moved');
      }
    }
  }

  /** Debug log of an ignored record, at most once a minute per record and reason. */
  private ignored(fqdn: string, problem: string, rinfo?: RemoteInfo): void {
    const key = `${fqdn}\u0000${problem}`;
    const now = this.now();
    const last = this.ignoredLogged.get(key);
    if (last !== undefined && now - last < IGNORED_LOG_EVERY_MS) return;
    if (this.ignoredLogged.size > 100) this.ignoredLogged.clear();
    this.ignoredLogged.set(key, now);
    this.logger.debug({ record: fqdn.slice(0, 120), problem, from: rinfo?.address }, 'mDNS: ignored record');
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.debug({ err: describeError(err) }, 'mDNS: event handler failed; ignored');
    }
  }
}

/** True when every name in the packet is one of ours: the multicast loop handing us our own answer. */
function isOwnEcho(reading: ResponseReading, own: Set<string>): boolean {
  for (const n of reading.names) if (!own.has(n)) return false;
  for (const n of reading.ptrTargets) if (!own.has(n)) return false;
  return true;
}

function transportOf(bonjour: Bonjour): MdnsTransport {
  // bonjour-service does not expose its multicast-dns socket; we need it to
  // hear raw responses and, above all, to listen for its 'error' event, which
  // would otherwise be thrown (EADDRINUSE, EACCES) and end the process.
  const mdns = (bonjour as unknown as { server?: { mdns?: unknown } }).server?.mdns;
  const t = mdns as Partial<Record<'on' | 'query', unknown>> | undefined;
  if (!t || typeof t.on !== 'function' || typeof t.query !== 'function') {
    try {
      bonjour.destroy();
    } catch {
      // nothing to close
    }
    throw new Error('bonjour-service keeps no multicast-dns socket at server.mdns (changed internals?); this agent was built against bonjour-service 1.4');
  }
  return mdns as MdnsTransport;
}

/** Runs a callback-style operation and resolves when it calls back or after `ms`, whichever is first. */
function bounded(op: (done: () => void) => void, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    try {
      op(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
