/**
 * A multi-host test bed on one machine: N "hosts", each a network namespace
 * with its own interface (eth1), address (10.X.0.1i/24), multicast route and
 * hostname (a UTS namespace per command), all on one bridge (10.X.0.1, which
 * is reachable from the root namespace). Reusable by any e2e test that needs
 * separate hosts: mDNS, systemd-nspawn (`--network-namespace-path=/run/netns/
 * <host.netns>`), packaging.
 *
 *   const bed = await TestBed.create({ hosts: 3 });
 *   t.teardown(() => bed.destroy());
 *   bed.spawn(1, ['etcd', ...], { logFile });
 *   const r = await bed.exec(2, ['ip', 'route']);
 *
 * Names: every bed has a random id `ea<4 hex>`; its namespaces are
 * `<id>h<i>`, its root-side veths `<id>v<i>`, its bridge `<id>br` (all ≤ 15
 * characters). Which beds are alive is recorded in /run/etcd-agent-testbeds,
 * so a crashed run's leftovers can be swept (`sweepStaleTestBeds`) without
 * touching a bed that another test process is using right now. The subnet
 * octet X is reserved there too, so concurrent beds never share addresses.
 *
 * Cleanup: `destroy()` stops every process in the bed's namespaces (SIGTERM,
 * then SIGKILL, each wait bounded), then deletes veths, namespaces, bridge
 * and reservations. It also runs on SIGINT/SIGTERM/SIGHUP and at exit of the
 * test process. Everything needs root; use `skipUnlessRoot(t)`.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ExecResult, TestBedOptions } from './fixtures.js';
import { alive } from './process-lock.js';

export const REGISTRY_DIR = '/run/etcd-agent-testbeds';
/** Namespaces, veths and bridges of every bed match this (and nothing else we create does). */
export const BED_NAME_RE = /^(ea[0-9a-f]{4})(h\d+|v\d+|br)$/;
const SUBNET_MIN = 100;
// 200-254 are left to hand-picked subnets (the systemd-nspawn helper uses 23x).
const SUBNET_MAX = 199;
const CMD_TIMEOUT_MS = 10_000;

export interface NetnsHost {
  /** 1-based. */
  index: number;
  /** Network namespace name (`ip netns exec <netns>`; /run/netns/<netns>). */
  netns: string;
  /** Hostname every command in this host sees. */
  hostname: string;
  /** Interface inside the host. */
  iface: string;
  /** IPv4 address of `iface` (/24 on the bridge). */
  address: string;
  /** Root-namespace end of the veth, a port of the bridge. */
  veth: string;
}

/** Hostnames default to h1..hN. */
export interface NetnsTestBedOptions extends TestBedOptions {
  /** Interface name inside every host (default eth1). */
  iface?: string;
  /** Bound for SIGTERM → exit of the bed's processes in destroy() (default 5 s). */
  stopGraceMs?: number;
}

export interface SpawnOptions {
  /** Appends stdout and stderr there (a file, so output survives the test process). */
  logFile?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

// ---- the live beds of this process, and cleanup on the way out -------------

const live = new Set<TestBed>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const bed of [...live]) bed.destroySync();
      process.off(sig, onSignal);
      // Die of the same signal, as we would have without the handler.
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
  process.on('exit', () => {
    for (const bed of [...live]) bed.destroySync();
  });
}

// ---- small synchronous helpers (also used from signal/exit handlers) -------

function run(argv: string[], timeoutMs = CMD_TIMEOUT_MS, input?: string): ExecResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? (r.error ? String(r.error) : '');
  return { code: r.status, signal: r.signal, stdout, stderr, output: `${stdout}${stderr}` };
}

function must(argv: string[], input?: string): string {
  const r = run(argv, CMD_TIMEOUT_MS, input);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` failed (${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function netnsList(): string[] {
  return run(['ip', 'netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

function linkList(): string[] {
  return run(['ip', '-o', 'link', 'show'])
    .stdout.split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

function netnsPids(netns: string): number[] {
  return run(['ip', 'netns', 'pids', netns])
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
}

function killAll(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops every process in the namespaces (SIGTERM, up to `graceMs`, then
 * SIGKILL, up to 3 s more) and deletes namespaces and links. Returns what
 * could not be removed.
 */
function teardownNames(netnsNames: string[], links: string[], graceMs: number): string[] {
  const pidsOf = () => netnsNames.flatMap(netnsPids).filter((p) => p !== process.pid);
  killAll(pidsOf(), 'SIGTERM');
  const termDeadline = Date.now() + graceMs;
  while (pidsOf().length > 0 && Date.now() < termDeadline) sleepSync(100);
  const killDeadline = Date.now() + 3000;
  for (let left = pidsOf(); left.length > 0 && Date.now() < killDeadline; left = pidsOf()) {
    killAll(left, 'SIGKILL');
    sleepSync(100);
  }
  const leftovers: string[] = [];
  const pidsLeft = pidsOf();
  if (pidsLeft.length > 0) leftovers.push(`processes ${pidsLeft.join(' ')}`);
  const existingLinks = new Set(linkList());
  for (const link of links) {
    if (!existingLinks.has(link)) continue;
    const r = run(['ip', 'link', 'del', link]);
    if (r.code !== 0) leftovers.push(`link ${link}: ${r.stderr.trim()}`);
  }
  const existingNs = new Set(netnsList());
  for (const ns of netnsNames) {
    if (!existingNs.has(ns)) continue;
    const r = run(['ip', 'netns', 'del', ns]);
    if (r.code !== 0) leftovers.push(`netns ${ns}: ${r.stderr.trim()}`);
  }
  return leftovers;
}

interface BedRecord {
  id: string;
  pid: number;
  subnet: number;
  createdAt: string;
}

function readRecord(file: string): BedRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BedRecord;
  } catch {
    return undefined;
  }
}

/** Ids of beds whose owning process is still running. */
function liveBedIds(): Set<string> {
  const ids = new Set<string>();
  if (!existsSync(REGISTRY_DIR)) return ids;
  for (const f of readdirSync(REGISTRY_DIR)) {
    if (!f.endsWith('.json')) continue;
    const rec = readRecord(join(REGISTRY_DIR, f));
    if (rec && alive(rec.pid)) ids.add(rec.id);
  }
  return ids;
}

/**
 * Removes what crashed earlier runs left behind: namespaces, veths and
 * bridges named `ea<4 hex>…` whose owning test process is gone, with their
 * processes and reservations. Beds of running processes are left alone.
 * Returns the names removed.
 */
export function sweepStaleTestBeds(): string[] {
  if (process.getuid?.() !== 0) return [];
  const liveIds = liveBedIds();
  const stale = new Map<string, { ns: string[]; links: string[] }>();
  const entry = (id: string) => {
    let e = stale.get(id);
    if (!e) stale.set(id, (e = { ns: [], links: [] }));
    return e;
  };
  for (const ns of netnsList()) {
    const m = BED_NAME_RE.exec(ns);
    if (m && !liveIds.has(m[1]!)) entry(m[1]!).ns.push(ns);
  }
  for (const link of linkList()) {
    const m = BED_NAME_RE.exec(link);
    if (m && !liveIds.has(m[1]!)) entry(m[1]!).links.push(link);
  }
  const removed: string[] = [];
  for (const [id, e] of stale) {
    // Veths before the bridge, so the bridge goes last.
    e.links.sort((a, b) => Number(a.endsWith('br')) - Number(b.endsWith('br')));
    teardownNames(e.ns, e.links, 1000);
    removed.push(...e.ns, ...e.links);
    rmSync(join(REGISTRY_DIR, `${id}.json`), { force: true });
  }
  if (existsSync(REGISTRY_DIR)) {
    for (const f of readdirSync(REGISTRY_DIR)) {
      const path = join(REGISTRY_DIR, f);
      if (f.endsWith('.json')) {
        const rec = readRecord(path);
        if (!rec || !alive(rec.pid)) rmSync(path, { force: true });
      } else if (f.startsWith('subnet-')) {
        const owner = readFileSync(path, 'utf8').trim();
        if (!liveIds.has(owner)) rmSync(path, { force: true });
      }
    }
  }
  return removed;
}

/** Reserves a free 10.X.0.0/24 (X in 100..199) in the registry; returns X. */
function reserveSubnet(id: string): number {
  const inUse = run(['ip', '-4', '-o', 'addr', 'show']).stdout + run(['ip', '-4', 'route', 'show', 'table', 'all']).stdout;
  const candidates = Array.from({ length: SUBNET_MAX - SUBNET_MIN + 1 }, (_, i) => SUBNET_MIN + i).sort(() => Math.random() - 0.5);
  for (const x of candidates) {
    if (inUse.includes(` 10.${x}.`)) continue;
    try {
      const fd = openSync(join(REGISTRY_DIR, `subnet-${x}`), 'wx');
      writeFileSync(fd, id);
      closeSync(fd);
      return x;
    } catch {
      // taken by another bed
    }
  }
  throw new Error(`no free 10.X.0.0/24 for a test bed (X ${SUBNET_MIN}..${SUBNET_MAX}); run sweepStaleTestBeds() or remove ${REGISTRY_DIR}/subnet-*`);
}

// ---- the bed ---------------------------------------------------------------

export class TestBed {
  readonly id: string;
  readonly subnet: number;
  readonly bridge: string;
  /** The bridge's address: reachable from the root namespace and from every host. */
  readonly gateway: string;
  readonly hosts: NetnsHost[];
  private readonly children = new Set<ChildProcess>();
  private readonly stopGraceMs: number;
  private destroyed = false;

  private constructor(id: string, subnet: number, options: NetnsTestBedOptions) {
    this.id = id;
    this.subnet = subnet;
    this.bridge = `${id}br`;
    this.gateway = `10.${subnet}.0.1`;
    this.stopGraceMs = options.stopGraceMs ?? 5000;
    const iface = options.iface ?? 'eth1';
    this.hosts = Array.from({ length: options.hosts }, (_, k) => {
      const index = k + 1;
      return {
        index,
        netns: `${id}h${index}`,
        hostname: options.hostnames?.[k] ?? `h${index}`,
        iface,
        address: `10.${subnet}.0.${10 + index}`,
        veth: `${id}v${index}`,
      };
    });
  }

  /** Builds the bed. Throws (after cleaning up) when it cannot. Needs root. */
  static async create(options: NetnsTestBedOptions): Promise<TestBed> {
    const why = netnsUnavailable();
    if (why) throw new Error(why);
    if (options.hosts < 1 || options.hosts > 200) throw new Error(`hosts must be 1..200, not ${options.hosts}`);
    mkdirSync(REGISTRY_DIR, { recursive: true, mode: 0o755 });
    sweepStaleTestBeds();
    let id: string;
    const taken = new Set([...netnsList(), ...linkList()].map((n) => BED_NAME_RE.exec(n)?.[1]).filter(Boolean));
    do id = `ea${randomBytes(2).toString('hex')}`;
    while (taken.has(id) || existsSync(join(REGISTRY_DIR, `${id}.json`)));
    // Registered before anything exists, so a crash at any point leaves a sweepable record.
    const record: BedRecord = { id, pid: process.pid, subnet: 0, createdAt: new Date().toISOString() };
    writeFileSync(join(REGISTRY_DIR, `${id}.json`), JSON.stringify(record));
    let subnet: number;
    try {
      subnet = reserveSubnet(id);
    } catch (err) {
      rmSync(join(REGISTRY_DIR, `${id}.json`), { force: true });
      throw err;
    }
    writeFileSync(join(REGISTRY_DIR, `${id}.json`), JSON.stringify({ ...record, subnet }));
    const bed = new TestBed(id, subnet, options);
    installHandlers();
    live.add(bed);
    try {
      bed.build();
    } catch (err) {
      bed.destroySync();
      throw err;
    }
    return bed;
  }

  private build(): void {
    // Snooping off: the bridge floods all multicast, as a plain switch would.
    must(['ip', 'link', 'add', this.bridge, 'type', 'bridge', 'mcast_snooping', '0']);
    must(['ip', 'addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    must(['ip', 'link', 'set', this.bridge, 'up']);
    for (const h of this.hosts) {
      must(['ip', 'netns', 'add', h.netns]);
      // The peer is created directly inside the namespace, so its name (eth1)
      // never clashes with an interface of the root namespace.
      must(['ip', 'link', 'add', h.veth, 'type', 'veth', 'peer', 'name', h.iface, 'netns', h.netns]);
      must(['ip', 'link', 'set', h.veth, 'master', this.bridge]);
      must(['ip', 'link', 'set', h.veth, 'up']);
      must(['ip', '-n', h.netns, 'link', 'set', 'lo', 'up']);
      must(['ip', '-n', h.netns, 'addr', 'add', `${h.address}/24`, 'dev', h.iface]);
      must(['ip', '-n', h.netns, 'link', 'set', h.iface, 'up']);
      this.restoreMulticastRoute(h.index);
    }
  }

  host(i: number): NetnsHost {
    const h = this.hosts[i - 1];
    if (!h) throw new Error(`test bed ${this.id} has hosts 1..${this.hosts.length}, not ${i}`);
    return h;
  }

  /** The argv that runs `command` inside host i, under its hostname. */
  argv(i: number, command: string[]): string[] {
    const h = this.host(i);
    return ['ip', 'netns', 'exec', h.netns, 'unshare', '--uts', 'sh', '-c', 'hostname "$1" && shift && exec "$@"', 'sh', h.hostname, ...command];
  }

  /** Runs a command inside host i to completion (bounded); never rejects on a non-zero exit. */
  exec(i: number, command: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ExecResult> {
    this.assertAlive();
    const argv = this.argv(i, command);
    return new Promise((resolve) => {
      const child = execFile(
        argv[0]!,
        argv.slice(1),
        { encoding: 'utf8', timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...options.env } },
        (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
          // A command that could not start has no stderr of its own: show why instead.
          const shownErr = e && typeof e.code !== 'number' && !stderr ? String(e.message) : stderr;
          resolve({
            code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
            signal: e?.signal ?? null,
            stdout,
            stderr: shownErr,
            output: `${stdout}${shownErr}`,
          });
        },
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  }

  /**
   * Starts a long-running process inside host i, in its own process group.
   * destroy() stops it (and everything else in the bed's namespaces).
   */
  spawn(i: number, command: string[], options: SpawnOptions = {}): ChildProcess {
    this.assertAlive();
    const argv = this.argv(i, command);
    const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
    try {
      const child = spawn(argv[0]!, argv.slice(1), {
        stdio: ['ignore', out, out],
        detached: true,
        env: { ...process.env, ...options.env },
        ...(options.cwd ? { cwd: options.cwd } : {}),
      });
      // The bed, not the event loop, keeps track of it: a forgotten process must not keep the test alive.
      child.unref();
      this.children.add(child);
      child.once('exit', () => this.children.delete(child));
      return child;
    } finally {
      if (typeof out === 'number') closeSync(out);
    }
  }

  /** Sends `signal` to a process started with spawn() and its group; waits (bounded) for it to exit. */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // gone
      }
    };
    group(signal);
    const timer = setTimeout(() => group('SIGKILL'), timeoutMs);
    await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs + 3000))]);
    clearTimeout(timer);
  }

  /** Pids of every process inside host i. */
  pids(i: number): number[] {
    return netnsPids(this.host(i).netns);
  }

  /** Without this route, a socket that does not pin its multicast interface gets ENETUNREACH. */
  removeMulticastRoute(i: number): void {
    const h = this.host(i);
    must(['ip', '-n', h.netns, 'route', 'del', '224.0.0.0/4', 'dev', h.iface]);
  }

  restoreMulticastRoute(i: number): void {
    const h = this.host(i);
    must(['ip', '-n', h.netns, 'route', 'replace', '224.0.0.0/4', 'dev', h.iface]);
  }

  /**
   * Drops all multicast in and out of host i (nftables in its namespace), as a
   * switch or firewall that blocks multicast would; sends fail with EPERM.
   * Needed for real silence: a socket that pins its interface
   * (IP_MULTICAST_IF, as the agent does) sends fine without the route.
   */
  blockMulticast(i: number): void {
    const h = this.host(i);
    must(
      ['ip', 'netns', 'exec', h.netns, 'nft', '-f', '-'],
      `table ip ea_mcast_block {
  chain out { type filter hook output priority 0; policy accept; ip daddr 224.0.0.0/4 drop; }
  chain in { type filter hook input priority 0; policy accept; ip daddr 224.0.0.0/4 drop; }
}
`,
    );
  }

  unblockMulticast(i: number): void {
    const h = this.host(i);
    run(['ip', 'netns', 'exec', h.netns, 'nft', 'delete', 'table', 'ip', 'ea_mcast_block']);
  }

  /** Host i neither sends nor receives multicast: no route, and a firewall drop. */
  silenceMulticast(i: number): void {
    this.removeMulticastRoute(i);
    this.blockMulticast(i);
  }

  unsilenceMulticast(i: number): void {
    this.unblockMulticast(i);
    this.restoreMulticastRoute(i);
  }

  /** HTTP GET from inside host i (e.g. a loopback-only status API); needs curl. */
  async httpGet(i: number, url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
    const r = await this.exec(i, ['curl', '-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-w', '\n%{http_code}', url], { timeoutMs: timeoutMs + 2000 });
    if (r.code !== 0) throw new Error(`GET ${url} in ${this.host(i).netns}: ${r.stderr.trim() || `curl exit ${r.code}`}`);
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Stops every process of the bed (SIGTERM first, bounded) and removes everything it created. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    // Polite first, without blocking the event loop, so agents can stop their etcd.
    const all = () => this.hosts.flatMap((h) => netnsPids(h.netns));
    killAll(all(), 'SIGTERM');
    const deadline = Date.now() + this.stopGraceMs;
    while (all().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    this.destroySync();
  }

  /** Like destroy(), synchronously (signal and exit handlers). Idempotent. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const child of this.children) {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const leftovers = teardownNames(
      this.hosts.map((h) => h.netns),
      [...this.hosts.map((h) => h.veth), this.bridge],
      Math.min(this.stopGraceMs, 2000),
    );
    rmSync(join(REGISTRY_DIR, `subnet-${this.subnet}`), { force: true });
    rmSync(join(REGISTRY_DIR, `${this.id}.json`), { force: true });
    if (leftovers.length > 0) process.stderr.write(`test bed ${this.id}: could not remove ${leftovers.join('; ')}\n`);
  }

  private assertAlive(): void {
    if (this.destroyed) throw new Error(`test bed ${this.id} was destroyed`);
  }
}

/** Why network-namespace hosts cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network-namespace test hosts need Linux';
  if (process.getuid?.() !== 0) return 'network-namespace test hosts need root (CI runs as root)';
  for (const tool of ['ip', 'unshare']) {
    if (run(['sh', '-c', `command -v ${tool}`]).code !== 0) return `${tool} is not installed; run scripts/setup-deps.sh`;
  }
  return undefined;
}

/**
 * For e2e test files: true when the bed can be built; otherwise marks the
 * test skipped with a loud reason and returns false.
 */
export function skipUnlessRoot(t: Test, what = 'this e2e test'): boolean {
  const why = netnsUnavailable();
  if (!why) return true;
  const msg = `!!! SKIPPED: ${what} — ${why} !!!`;
  process.stderr.write(`${msg}\n`);
  t.comment(msg);
  // A skipped assertion, so tap's summary counts the file as skipped rather than passed.
  t.pass(what, { skip: msg });
  return false;
}
