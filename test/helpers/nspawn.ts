/**
 * Hosts that boot systemd, for e2e tests: systemd-nspawn containers on a
 * Debian root, each optionally in its own network namespace on a bridge.
 *
 *   const bed = await SystemdTestBed.create(t, { prefix: 'eas1', subnet: 231, hosts: 3 });
 *   await bed.bootAll();
 *   await bed.hosts[0].exec(['systemctl', 'start', 'etcd-agent']);
 *   await bed.hosts[0].halt(); await bed.hosts[0].boot();   // reboot, same disk
 *   // teardown is registered on `t` (and on SIGINT/SIGTERM/exit)
 *
 * - The Debian root (debootstrap minbase + systemd + Debian's etcd-server and
 *   etcd-client + curl) is built once and cached in .cache/nspawn/root-<hash>
 *   (the hash covers the recipe); a lock file keeps two test files from
 *   building it at the same time. It is never modified after the build.
 * - Each host's disk is an overlayfs we mount ourselves: lower = the agent
 *   layer (see `installAgentFiles`) over the cached root, upper = a per-host
 *   directory. It stays mounted across halt/boot, so a reboot keeps the disk.
 *   (Not `--volatile=overlay`: that loses everything at halt.)
 * - Containers: `systemd-nspawn --boot --register=no --keep-unit
 *   --console=pipe` (see PLATFORM.md); commands run with `nsenter -t LEADER
 *   -a` (machinectl/systemctl -M do not work here).
 * - Network: a bridge `<prefix>br` with 10.<subnet>.0.1/24 and, per host,
 *   netns `<prefix>h<i>` with 10.<subnet>.0.<10+i>/24 and a multicast route.
 *   test/helpers/netns.ts did not exist when this was written; the few `ip`
 *   commands needed live here.
 * - Everything is named with the bed's prefix; leftovers of a crashed run
 *   with the same prefix are removed before a new bed starts. Teardown:
 *   SIGTERM to nspawn (clean halt, bounded), then SIGKILL; unmount; delete.
 *
 * Root only: `systemdHostsUnsupported()` says why not, and tests skip loudly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { REPO, type ExecResult, type TestBedOptions, type Teardown } from './fixtures.js';
import { waitFor } from './wait.js';
import { alive, withLock } from './process-lock.js';

export const NSPAWN_CACHE = join(REPO, '.cache', 'nspawn');
const BEDS = join(NSPAWN_CACHE, 'beds');

/** The Debian root every host boots. Changing this list rebuilds the cached root. */
export const ROOT_RECIPE = {
  suite: 'bookworm',
  variant: 'minbase',
  include: ['systemd', 'systemd-sysv', 'dbus', 'iproute2', 'procps', 'curl', 'etcd-server', 'etcd-client'],
  /** Bumped when the post-debootstrap steps below change. */
  steps: 2,
};

const TOOLS = ['debootstrap', 'systemd-nspawn', 'nsenter', 'ip', 'mount', 'umount'];

// ---------------------------------------------------------------------------
// small process helpers

/** Runs a command on the host, bounded; rejects on non-zero exit unless `check: false`. */
export function run(
  argv: string[],
  options: { timeoutMs?: number; check?: boolean; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  const [file, ...args] = argv;
  return new Promise((resolveRun, reject) => {
    const child = spawn(file!, args, { stdio: [options.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < 4_000_000) stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4_000_000) stderr += d;
    });
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr, output: `${stdout}${stderr}` };
      if (timedOut) reject(new Error(`${argv.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}${stderr}`));
      else if (options.check !== false && code !== 0) {
        reject(new Error(`${argv.join(' ')}: exit ${code ?? signal}\n${stdout.slice(-4000)}${stderr.slice(-4000)}`));
      } else resolveRun(result);
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command that exits without reading its input
      child.stdin.end(options.input);
    }
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Children of `pid`, from /proc (no ps needed). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // raced with an exit
    }
  }
  return kids;
}

/**
 * The cgroup hierarchies systemd inside a container manages: the unified
 * (cgroup2) one and, on a hybrid host, the named `systemd` one — as mount
 * point plus this process's own path in each.
 *
 * Why: with `--keep-unit --register=no`, nspawn leaves the container in the
 * caller's cgroup, so every container of a test process would share one
 * cgroup tree, and each container's systemd would see the others' etcd.service
 * processes in "its" etcd.service cgroup (systemctl kill then fails with EIO
 * on their pids, or worse). Each container therefore gets a cgroup of its
 * own, below ours.
 */
function cgroupHierarchies(): { mount: string; own: string }[] {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const found: { mount: string; own: string }[] = [];
  const unified = mounts.find((m) => m[2] === 'cgroup2');
  const unifiedPath = own.find((l) => l.startsWith('0::'))?.slice(3);
  if (unified?.[1] && unifiedPath !== undefined) found.push({ mount: unified[1], own: unifiedPath });
  const named = mounts.find((m) => m[2] === 'cgroup' && (m[3] ?? '').split(',').includes('name=systemd'));
  const namedPath = own.find((l) => /^\d+:name=systemd:/.test(l))?.replace(/^\d+:name=systemd:/, '');
  if (named?.[1] && namedPath !== undefined) found.push({ mount: named[1], own: namedPath });
  return found;
}

/** Removes a cgroup directory tree, leaves first (a cgroup is removed with rmdir once empty). */
function removeCgroup(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) removeCgroup(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    // still populated: the sweep of a later run retries
  }
}

/** SIGKILL to every process in a cgroup tree (whatever pid namespace it is in). */
function killCgroup(dir: string): void {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1'); // cgroup2, Linux ≥ 5.14: the whole subtree at once
    return;
  } catch {
    // no cgroup.kill (v1 hierarchy or older kernel): one pid at a time
  }
  const walk = (d: string): void => {
    try {
      for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) {
        if (/^\d+$/.test(pid) && pid !== '0') {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // gone
    }
  };
  walk(dir);
}

const CGROUP_PREFIX = 'ea-nspawn-';

// ---------------------------------------------------------------------------
// preconditions

/** Why systemd hosts cannot run here, or undefined when they can. */
export function systemdHostsUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, overlayfs mounts, network namespaces)';
  for (const tool of TOOLS) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) return `needs ${tool} (bash scripts/setup-deps.sh installs it)`;
  }
  return undefined;
}

interface TapLike {
  plan(n: number, comment?: string): void;
  comment(...args: unknown[]): void;
}

/** True when the test may go on; otherwise the whole test is skipped, loudly. */
export function requireSystemdHosts(t: TapLike): boolean {
  const why = systemdHostsUnsupported();
  if (why === undefined) return true;
  const message = `SKIPPING systemd e2e test: ${why}`;
  process.stderr.write(`\n!!! ${message} !!!\n\n`);
  t.comment(message);
  t.plan(0, message); // tap reports the file as skipped, with the reason
  return false;
}

// ---------------------------------------------------------------------------
// the cached Debian root

/** The Debian mirror this machine's apt uses (deb822 or one-line format), else deb.debian.org. */
export function debianMirror(): string {
  const files: string[] = [];
  for (const dir of ['/etc/apt/sources.list.d']) {
    try {
      for (const f of readdirSync(dir)) if (f.endsWith('.sources') || f.endsWith('.list')) files.push(join(dir, f));
    } catch {
      // no such dir
    }
  }
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const enabled = !/^Enabled:\s*no/im.test(stanza);
      if (uri && enabled && suites.includes(ROOT_RECIPE.suite) && /^https?:/.test(uri)) return uri;
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(https?:\S+)\s+(\S+)/.exec(line.trim());
      if (m && m[2] === ROOT_RECIPE.suite) return m[1]!;
    }
  }
  return 'http://deb.debian.org/debian';
}

function recipeHash(mirror: string): string {
  return createHash('sha256').update(JSON.stringify({ ...ROOT_RECIPE, mirror })).digest('hex').slice(0, 12);
}

/**
 * The cached Debian root (built on first use; ≈1 min, ≈300 MB). Safe to call
 * from several test processes at once: one builds, the others wait.
 */
export async function buildBaseRoot(log: (line: string) => void = () => undefined): Promise<string> {
  const mirror = debianMirror();
  const hash = recipeHash(mirror);
  const final = join(NSPAWN_CACHE, `root-${hash}`);
  const done = join(final, '.etcd-agent-root-complete');
  if (existsSync(done)) return final;
  await mkdir(NSPAWN_CACHE, { recursive: true });
  const lock = join(NSPAWN_CACHE, `root-${hash}.lock`);
  await withLock(lock, 20 * 60_000, async () => {
    if (existsSync(done)) return;
    const tmp = `${final}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    const started = Date.now();
    log(`building the Debian root for systemd hosts in ${final} (debootstrap from ${mirror}; once, ≈1 min)`);
    await run(
      ['debootstrap', `--variant=${ROOT_RECIPE.variant}`, `--include=${ROOT_RECIPE.include.join(',')}`, ROOT_RECIPE.suite, tmp, mirror],
      { timeoutMs: 15 * 60_000 },
    );
    // No /etc/hosts after debootstrap: etcd could not resolve localhost.
    await writeFile(join(tmp, 'etc', 'hosts'), '127.0.0.1 localhost\n::1 localhost\n');
    // The machine name given to nspawn becomes the hostname.
    await rm(join(tmp, 'etc', 'hostname'), { force: true });
    // Empty: every host makes its own machine id on first boot (each gets one written into its overlay).
    await writeFile(join(tmp, 'etc', 'machine-id'), '');
    // A persistent journal: what happened before a reboot stays readable (journalctl -b -1).
    await mkdir(join(tmp, 'var', 'log', 'journal'), { recursive: true });
    await run(['sh', '-c', `rm -f ${tmp}/var/cache/apt/archives/*.deb ${tmp}/var/cache/apt/*.bin`]);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    await writeFile(done, `${new Date().toISOString()} ${JSON.stringify(ROOT_RECIPE)} ${mirror}\n`);
    log(`Debian root built in ${Math.round((Date.now() - started) / 1000)} s`);
  });
  return final;
}
// ---------------------------------------------------------------------------
// the agent, installed the way a package will

export const AGENT_PREFIX = '/usr/lib/etcd-agent';
export const AGENT_UNIT_SOURCE = join(REPO, 'packaging', 'systemd', 'etcd-agent.service');

/**
 * Installs etcd-agent into the root directory `root` as the package will:
 * Node and the built agent under /usr/lib/etcd-agent, a /usr/bin/etcd-agent
 * wrapper that execs node (so the unit's main PID is the notifying process),
 * and the unit in /usr/lib/systemd/system. The only step to replace once the
 * real .deb exists. Needs `npm run build` first (dist/bundle/).
 *
 * Paths are written under usr/ only: in an overlay layer a real lib/ or bin/
 * directory would hide the root's /lib → usr/lib symlink.
 */
export async function installAgentFiles(root: string): Promise<void> {
  if (!existsSync(join(REPO, 'dist', 'bundle', 'etcd-agent.js'))) throw new Error('dist/bundle/ is missing: run npm run build first');
  const lib = join(root, AGENT_PREFIX.slice(1));
  await mkdir(lib, { recursive: true });
  await copyFile(realpathSync(process.execPath), join(lib, 'node'));
  await chmod(join(lib, 'node'), 0o755);
  // As packaging/build.sh stages it: the bundle, the launcher, package.json,
  // and only the modules the bundle leaves out (sd-notify's native addon).
  await cp(join(REPO, 'dist', 'bundle'), join(lib, 'dist', 'bundle'), { recursive: true });
  for (const entry of ['bin', 'package.json']) await cp(join(REPO, entry), join(lib, entry), { recursive: true });
  const closure = await run([process.execPath, join(REPO, 'scripts', 'runtime-modules.mjs'), REPO], { timeoutMs: 30_000 });
  for (const dir of closure.stdout.split('\n').filter((l) => l.startsWith('node_modules/'))) {
    await cp(join(REPO, dir), join(lib, dir), { recursive: true, dereference: false, filter: (src) => !src.slice(join(REPO, dir).length).includes('/node_modules/') });
  }
  const wrapper = join(root, 'usr', 'bin', 'etcd-agent');
  await mkdir(dirname(wrapper), { recursive: true });
  await writeFile(wrapper, `#!/bin/sh\nexec ${AGENT_PREFIX}/node ${AGENT_PREFIX}/bin/etcd-agent.js "$@"\n`, { mode: 0o755 });
  const unitDir = join(root, 'usr', 'lib', 'systemd', 'system');
  await mkdir(unitDir, { recursive: true });
  await copyFile(AGENT_UNIT_SOURCE, join(unitDir, 'etcd-agent.service'));
}

// ---------------------------------------------------------------------------
// hosts

export interface ExecOptions {
  timeoutMs?: number;
  /** Reject on non-zero exit (default true). */
  check?: boolean;
  input?: string;
}

/** Paths nspawn or systemd mount over inside a running container: files written below them on the host are invisible. */
const SHADOWED = ['/tmp', '/run', '/dev', '/proc', '/sys'];

export class SystemdHost {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private leader = 0;
  private boots = 0;

  constructor(
    readonly bed: SystemdTestBed,
    readonly index: number,
    readonly name: string,
    /** The host's address on the bed's bridge (undefined without a netns). */
    readonly address: string | undefined,
    /** Network namespace name (undefined: the host shares the machine's network). */
    readonly netns: string | undefined,
    /** The merged overlay: the host's `/`, as seen from outside. */
    readonly rootDir: string,
    readonly logFile: string,
  ) {}

  /** This host's cgroup directories, one per hierarchy systemd manages. */
  cgroups(): string[] {
    return cgroupHierarchies().map((h) => join(h.mount, h.own, `${CGROUP_PREFIX}${basename(this.bed.dir)}-${this.name}`));
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get leaderPid(): number {
    return this.leader;
  }

  /** Boots the container and waits (bounded) until systemd says the boot is over. */
  async boot(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const timeoutMs = options.timeoutMs ?? 60_000;
    this.boots += 1;
    const log = openSync(this.logFile, 'a');
    const args = [
      '-D', this.rootDir, '--boot', '--register=no', '--keep-unit', '--console=pipe', '-M', this.name,
      ...(this.netns ? [`--network-namespace-path=/run/netns/${this.netns}`] : []),
    ];
    // Into a cgroup of its own before exec'ing nspawn (see cgroupHierarchies).
    const procsFiles = this.cgroups().map((dir) => {
      mkdirSync(dir, { recursive: true });
      return join(dir, 'cgroup.procs');
    });
    const proc = spawn('sh', ['-c', 'for f in $CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; exec systemd-nspawn "$@"', 'nspawn', ...args], {
      stdio: ['ignore', log, log],
      env: { ...process.env, CGROUP_PROCS: procsFiles.join(' ') },
    });
    closeSync(log);
    this.proc = proc;
    this.exited = new Promise((r) => proc.once('exit', () => r()));
    proc.once('error', () => undefined);
    const pid = proc.pid ?? 0;
    this.bed.track(pid);
    this.leader = await waitFor(
      `${this.name}: the container's init process`,
      () => {
        if (!this.running) throw new Error(`systemd-nspawn exited: ${this.tail()}`);
        const leader = childrenOf(pid).find((p) => {
          try {
            return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd';
          } catch {
            return false;
          }
        });
        return leader;
      },
      { timeoutMs: 15_000, intervalMs: 100, describe: () => this.tail() },
    );
    // systemd opens its bus socket a moment after it starts; until then systemctl cannot connect.
    const deadline = Date.now() + timeoutMs;
    let state: ExecResult;
    for (;;) {
      state = await this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1000, deadline - Date.now()), check: false }).catch((err: unknown) => {
        throw new Error(`${this.name}: boot did not finish within ${timeoutMs} ms: ${String(err)}\n${this.tail()}`);
      });
      // Under load the leader may not be systemd yet when we enter it ('offline', or no answer): ask again.
      const early = /Failed to connect to bus/.test(state.stderr) || ['offline', ''].includes(state.stdout.trim());
      if (!early || Date.now() > deadline) break;
      await sleep(200);
    }
    const word = state.stdout.trim();
    if (word !== 'running' && word !== 'degraded') {
      throw new Error(`${this.name}: systemd says '${word}' after boot ${this.boots} (${state.output.trim()})\n${this.tail()}`);
    }
    if (word === 'degraded') {
      const failed = await this.exec(['systemctl', '--failed', '--no-legend', '--plain'], { check: false });
      this.bed.note(`${this.name}: boot ${this.boots} degraded; failed units: ${failed.stdout.trim()}`);
    }
  }

  /** Clean halt: SIGTERM to nspawn (it asks the container's systemd to power off), bounded, then SIGKILL. */
  async halt(options: { timeoutMs?: number } = {}): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const timeoutMs = options.timeoutMs ?? 30_000;
    proc.kill('SIGTERM');
    const clean = await Promise.race([this.exited!.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!clean) {
      this.bed.note(`${this.name}: no clean halt within ${timeoutMs} ms; SIGKILL`);
      proc.kill('SIGKILL');
      for (const dir of this.cgroups()) killCgroup(dir);
      await Promise.race([this.exited, sleep(5000)]);
    }
    for (const dir of this.cgroups()) removeCgroup(dir);
    this.bed.untrack(proc.pid ?? 0);
    this.proc = undefined;
    this.leader = 0;
  }

  /** Runs a command inside the container (all its namespaces), with a clean environment. */
  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (!this.running || this.leader === 0) throw new Error(`${this.name} is not running`);
    const r = await run(
      [
        'nsenter', '-t', String(this.leader), '-a', '--',
        'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8',
        'SYSTEMD_PAGER=', 'SYSTEMD_COLORS=0',
        ...argv,
      ],
      { timeoutMs: options.timeoutMs ?? 60_000, check: false, ...(options.input !== undefined ? { input: options.input } : {}) },
    );
    if (options.check !== false && r.code !== 0) {
      throw new Error(`${this.name}: ${argv.join(' ')} → exit ${r.code ?? r.signal}\n${r.output.slice(-4000)}`);
    }
    return r;
  }

  /** `sh -c script` inside the container. */
  sh(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(['sh', '-c', script], options);
  }

  private hostPath(path: string): string {
    if (!path.startsWith('/')) throw new Error(`${path}: give an absolute path inside the container`);
    if (this.running && SHADOWED.some((p) => path === p || path.startsWith(`${p}/`))) {
      throw new Error(`${path}: hidden by a mount inside the running container; use another directory (e.g. /var/tmp)`);
    }
    return join(this.rootDir, path);
  }

  /** Copies a file or directory from this machine into the container's disk. */
  async copyIn(source: string, dest: string): Promise<void> {
    const target = this.hostPath(dest);
    await mkdir(dirname(target), { recursive: true });
    await cp(source, target, { recursive: true });
  }

  async writeFile(path: string, content: string, mode = 0o644): Promise<void> {
    const target = this.hostPath(path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { mode });
    await chmod(target, mode);
  }

  /** Reads a file on the container's disk (undefined when absent). */
  async readFile(path: string): Promise<string | undefined> {
    try {
      return await readFile(this.hostPath(path), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** The last lines of the console log (boot messages), for failure messages. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** `journalctl -u UNIT` inside the container, for failure messages. */
  async journal(unit: string, lines = 40): Promise<string> {
    if (!this.running) return `(${this.name} is not running)`;
    const r = await this.exec(['journalctl', '-u', unit, '-n', String(lines), '--no-pager', '-o', 'short-precise'], { check: false, timeoutMs: 15_000 }).catch((e: unknown) => ({ output: String(e) }));
    return r.output;
  }
}

/** Hostnames default to host1…hostN. */
export interface SystemdTestBedOptions extends TestBedOptions {
  /** ≤5 lowercase letters/digits, unique per test file: names bridge, veths, netns, directories. */
  prefix: string;
  /** Second octet of 10.<subnet>.0.0/24, unique per test file. */
  subnet: number;
  /** Each host in its own network namespace on a bridge (default true). */
  netns?: boolean;
  /** Install the agent (installAgentFiles) into a layer shared by all hosts (default true). */
  agent?: boolean;
  log?: (line: string) => void;
}

interface TapTeardown extends Teardown {
  comment(...args: unknown[]): void;
}

export class SystemdTestBed {
  readonly hosts: SystemdHost[] = [];
  private readonly pids = new Set<number>();
  private readonly mounts: string[] = [];
  private readonly links: string[] = [];
  private readonly namespaces: string[] = [];
  /** 'destroying' until every step of destroy() finished: an exit in between still cleans up synchronously. */
  private phase: 'live' | 'destroying' | 'done' = 'live';
  private readonly log: (line: string) => void;
  private removeHandlers: () => void = () => undefined;

  private constructor(
    readonly options: SystemdTestBedOptions,
    readonly dir: string,
  ) {
    this.log = options.log ?? (() => undefined);
  }

  /** Builds (or reuses) the root, prepares the network and one overlay disk per host. Teardown is registered on `t`. */
  static async create(t: TapTeardown, options: SystemdTestBedOptions): Promise<SystemdTestBed> {
    if (!/^[a-z][a-z0-9]{0,4}$/.test(options.prefix)) throw new Error(`prefix ${options.prefix}: 1-5 lowercase letters/digits`);
    const log = options.log ?? ((line: string) => t.comment(line));
    await sweep(options.prefix, log);
    const base = await buildBaseRoot(log);
    const dir = join(BEDS, `${options.prefix}-${process.pid}-${randomBytes(3).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    const bed = new SystemdTestBed({ ...options, log }, dir);
    t.teardown(() => bed.destroy());
    bed.installExitHandlers();
    try {
      await bed.setUp(base);
    } catch (err) {
      await bed.destroy();
      throw err;
    }
    return bed;
  }

  note(line: string): void {
    this.log(line);
  }

  track(pid: number): void {
    if (pid > 0) this.pids.add(pid);
  }

  untrack(pid: number): void {
    this.pids.delete(pid);
  }

  private get netnsEnabled(): boolean {
    return this.options.netns !== false;
  }

  address(i: number): string {
    return `10.${this.options.subnet}.0.${10 + i}`;
  }

  get bridgeAddress(): string {
    return `10.${this.options.subnet}.0.1`;
  }

  private async setUp(base: string): Promise<void> {
    const { prefix, hosts } = this.options;
    const lowers = [base];
    if (this.options.agent !== false) {
      const layer = join(this.dir, 'agent-layer');
      await installAgentFiles(layer);
      lowers.unshift(layer);
    }
    if (this.netnsEnabled) {
      const br = `${prefix}br`;
      const inUse = await run(['ip', '-o', 'addr', 'show', 'to', `10.${this.options.subnet}.0.0/24`], { check: false });
      if (inUse.stdout.trim() !== '') throw new Error(`10.${this.options.subnet}.0.0/24 is already in use on this machine: ${inUse.stdout.trim()}`);
      await run(['ip', 'link', 'add', br, 'type', 'bridge']);
      this.links.push(br);
      await run(['ip', 'addr', 'add', `${this.bridgeAddress}/24`, 'dev', br]);
      await run(['ip', 'link', 'set', br, 'up']);
    }
    for (let i = 1; i <= hosts; i++) {
      const name = this.options.hostnames?.[i - 1] ?? `host${i}`;
      const hostDir = join(this.dir, name);
      const upper = join(hostDir, 'upper');
      const work = join(hostDir, 'work');
      const merged = join(hostDir, 'root');
      await mkdir(upper, { recursive: true });
      await mkdir(work, { recursive: true });
      await mkdir(merged, { recursive: true });
      await run(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`, merged]);
      this.mounts.push(merged);
      // Its own machine id (the cached root has none).
      await writeFile(join(merged, 'etc', 'machine-id'), `${randomBytes(16).toString('hex')}\n`);
      let ns: string | undefined;
      let address: string | undefined;
      if (this.netnsEnabled) {
        ns = `${prefix}h${i}`;
        address = this.address(i);
        const veth = `${prefix}v${i}`;
        const inside = `${prefix}e${i}`;
        await run(['ip', 'netns', 'add', ns]);
        this.namespaces.push(ns);
        await run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', inside]);
        this.links.push(veth);
        await run(['ip', 'link', 'set', inside, 'netns', ns]);
        await run(['ip', 'link', 'set', veth, 'master', `${prefix}br`]);
        await run(['ip', 'link', 'set', veth, 'up']);
        await run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
        await run(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/24`, 'dev', inside]);
        await run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', inside, 'up']);
        // mDNS needs a multicast route (PLATFORM.md).
        await run(['ip', 'netns', 'exec', ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', inside]);
      }
      this.hosts.push(new SystemdHost(this, i, name, address, ns, merged, join(this.dir, `${name}.console.log`)));
    }
  }

  /** Boots every host at once. */
  async bootAll(options: { timeoutMs?: number } = {}): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.boot(options)));
  }

  /** Halts every host, unmounts, deletes the network and the bed's directory. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.phase !== 'live') return;
    this.phase = 'destroying';
    if (process.env.KEEP_TEST_DIRS === '1') this.log(`KEEP_TEST_DIRS=1: console logs kept in ${this.dir}`);
    await Promise.allSettled(this.hosts.map((h) => h.halt({ timeoutMs: 20_000 })));
    for (const pid of this.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const m of this.mounts.reverse()) await unmount(m);
    for (const ns of this.namespaces) await run(['ip', 'netns', 'del', ns], { check: false });
    for (const link of this.links) await run(['ip', 'link', 'del', link], { check: false });
    if (process.env.KEEP_TEST_DIRS === '1') {
      for (const h of this.hosts) await rm(join(this.dir, h.name), { recursive: true, force: true });
    } else {
      await rm(this.dir, { recursive: true, force: true });
    }
    this.phase = 'done';
    this.removeHandlers();
  }

  /** Interrupted runs (Ctrl-C, tap's timeout) still halt the containers and remove mounts and links. */
  private installExitHandlers(): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      void this.destroy().finally(() => process.kill(process.pid, signal));
    };
    const onExit = (): void => this.destroySync();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', onExit);
    this.removeHandlers = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', onExit);
    };
  }

  /** Last resort at process exit: no waiting possible, so kill, unmount lazily, delete. */
  private destroySync(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const h of this.hosts) for (const dir of h.cgroups()) killCgroup(dir);
    for (const h of this.hosts) for (const dir of h.cgroups()) removeCgroup(dir);
    for (const m of this.mounts) spawnSync('umount', ['-l', m]);
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    for (const link of this.links) spawnSync('ip', ['link', 'del', link]);
    spawnSync('rm', ['-rf', '--one-file-system', this.dir]);
  }
}

async function unmount(path: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const r = await run(['umount', path], { check: false });
    if (r.code === 0 || /not mounted|no mount point/i.test(r.stderr)) return;
    await sleep(300);
  }
  await run(['umount', '-l', path], { check: false });
}

/** Removes what a crashed run with this prefix left behind: nspawn processes, mounts, netns, links, directories. */
async function sweep(prefix: string, log: (line: string) => void): Promise<void> {
  const stale: string[] = [];
  let dirs: string[] = [];
  try {
    dirs = (await readdir(BEDS)).filter((d) => d.startsWith(`${prefix}-`)).map((d) => join(BEDS, d));
  } catch {
    // no beds yet
  }
  // A bed of a test process that still runs is not stale.
  dirs = dirs.filter((d) => {
    const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(d)?.[1]);
    return !(pid > 0 && pid !== process.pid && alive(pid));
  });
  if (dirs.length === 0 && !existsSync(`/run/netns/${prefix}h1`)) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('systemd-nspawn') && dirs.some((d) => cmd.some((a) => a.startsWith(d)))) {
        process.kill(Number(entry), 'SIGKILL');
        stale.push(`nspawn ${entry}`);
      }
    } catch {
      // gone
    }
  }
  for (const h of cgroupHierarchies()) {
    const parent = join(h.mount, h.own);
    for (const d of dirs) {
      let entries: string[] = [];
      try {
        entries = readdirSync(parent).filter((e) => e.startsWith(`${CGROUP_PREFIX}${basename(d)}-`));
      } catch {
        // no such hierarchy
      }
      for (const e of entries) {
        killCgroup(join(parent, e));
        await sleep(300);
        removeCgroup(join(parent, e));
        stale.push(`cgroup ${join(parent, e)}`);
      }
    }
  }
  await sleep(500);
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => dirs.some((d) => m.startsWith(d)));
  for (const m of mounts.reverse()) {
    await unmount(m);
    stale.push(`mount ${m}`);
  }
  const netns = await run(['ip', 'netns', 'list'], { check: false });
  for (const line of netns.stdout.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    if (new RegExp(`^${prefix}h\\d+$`).test(ns)) {
      await run(['ip', 'netns', 'del', ns], { check: false });
      stale.push(`netns ${ns}`);
    }
  }
  const links = await run(['ip', '-o', 'link', 'show'], { check: false });
  for (const line of links.stdout.split('\n')) {
    const name = /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? '';
    if (new RegExp(`^${prefix}(br|v\\d+)$`).test(name)) {
      await run(['ip', 'link', 'del', name], { check: false });
      stale.push(`link ${name}`);
    }
  }
  for (const d of dirs) {
    await run(['rm', '-rf', '--one-file-system', d], { check: false });
    stale.push(`dir ${d}`);
  }
  if (stale.length > 0) log(`removed leftovers of an earlier run: ${stale.join(', ')}`);
}
