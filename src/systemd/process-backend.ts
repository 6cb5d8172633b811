/**
 * The `process` service manager: etcd as a supervised child of the agent, for
 * containers, development and the demo — wherever systemd is not PID 1.
 *
 * - start: spawn `spec.binary` with PATH/HOME plus the `ETCD_*` variables of
 *   `spec.envFile` (re-read at every start, nothing else inherited); output
 *   goes to a ring buffer (status().recentLog) and `<workDir>/etcd.log`; the
 *   pid goes to `<workDir>/etcd.pid`.
 * - supervise: an unexpected exit is followed by a restart after an
 *   exponential backoff (1 s → 30 s, reset after 60 s of uptime).
 * - stop: SIGTERM, bounded wait, SIGKILL; nothing is restarted after that.
 * - an agent killed with -9 leaves etcd running and holding its ports: on
 *   start, a live process named by the pid file that is this etcd binary with
 *   this data dir is terminated first. Nothing else is ever killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { writeFileAtomic, readFileIfExists } from '../util/atomic-write.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { readServiceEnvFile } from './env-file.js';
import { checkBinary } from './binary.js';
import {
  SvcBinaryMissing,
  SvcNotInstalled,
  SvcSpecInvalid,
  SvcStopFailed,
} from './errors.js';
import type { ServiceActiveState, ServiceManager, ServiceSpec, ServiceStatus } from './service-manager.js';

export interface ProcessServiceManagerOptions {
  /** How long stop() waits after SIGTERM before SIGKILL (default 10 s). */
  stopTimeoutMs?: number;
  /** Restart delay after an unexpected exit: doubles from initialMs up to maxMs (default 1 s → 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Uptime after which the backoff starts again from initialMs (default 60 s). */
  resetAfterMs?: number;
  /** Lines kept for status().recentLog (default 200). */
  logLines?: number;
}

export const PID_FILE = 'etcd.pid';
export const LOG_FILE = 'etcd.log';
/** etcd.log is moved to etcd.log.1 at a (re)start once it is this big. */
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
const MAX_LINE = 4000;
/** Bound on waiting for a process to vanish after SIGKILL. */
const KILL_WAIT_MS = 5000;

interface Run {
  proc: ChildProcess;
  pid: number;
  startedAt: number;
  exited: Promise<void>;
  log: WriteStream;
}

/** The restart delay that follows `current` (pure, exported for tests). */
export function nextBackoff(current: number, backoff: { initialMs: number; maxMs: number }): number {
  return Math.min(Math.max(current * 2, backoff.initialMs), backoff.maxMs);
}

/** 4000 → '4 s', 1500 → '1.5 s', 250 → '250 ms'. */
export function formatDelay(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * The environment a service process gets: PATH and HOME of the agent, plus the
 * `ETCD_*` variables from its environment file. Nothing else is inherited, in
 * particular no ETCD_* variable of the agent's own environment.
 */
export function buildServiceEnv(fileEnv: Record<string, string>, agentEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {
    PATH: agentEnv.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: agentEnv.HOME ?? '/',
  };
  for (const [key, value] of Object.entries(fileEnv)) {
    if (key.startsWith('ETCD_')) env[key] = value;
  }
  return env;
}

export class ProcessServiceManager implements ServiceManager {
  readonly kind = 'process' as const;

  private readonly log: Logger;
  private readonly stopTimeoutMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly resetAfterMs: number;
  private readonly logLines: number;

  private spec: ServiceSpec | undefined;
  private current: Run | undefined;
  private wantRunning = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private delay: number;
  private stopNote = '';
  /** How the last unexpected exit looked, for the detail of the process that replaced it. */
  private lastExit = '';
  private queue: Promise<void> = Promise.resolve();

  private state: ServiceActiveState = 'inactive';
  private since: string | undefined;
  private detail = 'not started';
  private restarts = 0;
  private readonly ring: string[] = [];

  constructor(logger: Logger, options: ProcessServiceManagerOptions = {}) {
    // Keep the caller's `component` if it set one (pino would print a duplicate key otherwise).
    this.log = logger.child(logger.bindings().component === undefined ? { component: 'service', backend: 'process' } : { backend: 'process' });
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.backoff = options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
    this.resetAfterMs = options.resetAfterMs ?? 60_000;
    this.logLines = options.logLines ?? 200;
    this.delay = this.backoff.initialMs;
  }

  async install(spec: ServiceSpec): Promise<{ changed: boolean }> {
    validateSpec(spec);
    await checkBinary(spec.binary);
    const changed = this.spec === undefined || JSON.stringify(this.spec) !== JSON.stringify(spec);
    this.spec = { ...spec };
    return { changed };
  }

  async enable(): Promise<void> {
    // Nothing starts the process backend at boot but the agent itself.
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  /** The process backend's snapshot is always current. */
  async refreshStatus(): Promise<ServiceStatus> {
    return this.status();
  }

  status(): ServiceStatus {
    const status: ServiceStatus = {
      state: this.state,
      restarts: this.restarts,
      detail: this.detail,
      recentLog: [...this.ring],
    };
    if (this.current !== undefined) status.pid = this.current.pid;
    if (this.since !== undefined) status.since = this.since;
    return status;
  }

  async close(): Promise<void> {
    await this.serialize(() => this.doStop());
  }

  // ---------------------------------------------------------------------------

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private setState(state: ServiceActiveState, detail: string): void {
    if (state !== this.state) this.since = new Date().toISOString();
    this.state = state;
    this.detail = detail;
  }

  private note(line: string): void {
    this.pushLine(`etcd-agent: ${line}`);
  }

  private pushLine(line: string): void {
    this.ring.push(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line);
    while (this.ring.length > this.logLines) this.ring.shift();
  }

  private async doStart(): Promise<void> {
    const spec = this.spec;
    if (spec === undefined) throw SvcNotInstalled('etcd');
    if (this.current !== undefined) {
      this.wantRunning = true;
      return;
    }
    if (this.restartTimer !== undefined && this.wantRunning) return; // a restart is already scheduled
    this.wantRunning = true;
    this.delay = this.backoff.initialMs;
    this.setState('activating', `starting ${spec.binary}`);
    try {
      await this.spawnOnce(spec);
    } catch (err) {
      this.wantRunning = false;
      this.setState('failed', `could not start ${spec.binary}: ${describeError(err)}`);
      throw err;
    }
  }

  private async doStop(): Promise<void> {
    this.wantRunning = false;
    if (this.restartTimer !== undefined) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    const run = this.current;
    if (run === undefined) {
      if (this.state !== 'inactive') this.setState('inactive', `stopped at ${new Date().toISOString()}`);
      return;
    }
    this.stopNote = '';
    this.setState('deactivating', `stopping pid ${run.pid} (SIGTERM sent at ${new Date().toISOString()})`);
    this.log.info({ pid: run.pid }, 'stopping etcd');
    run.proc.kill('SIGTERM');
    if (await settlesWithin(run.exited, this.stopTimeoutMs)) return;
    this.stopNote = `; it ignored SIGTERM for ${formatDelay(this.stopTimeoutMs)}`;
    this.log.warn({ pid: run.pid, reason: `no exit ${this.stopTimeoutMs} ms after SIGTERM` }, 'killing etcd with SIGKILL');
    this.note(`pid ${run.pid} did not stop within ${formatDelay(this.stopTimeoutMs)} of SIGTERM; sending SIGKILL`);
    run.proc.kill('SIGKILL');
    if (await settlesWithin(run.exited, KILL_WAIT_MS)) return;
    throw SvcStopFailed('etcd', run.pid, KILL_WAIT_MS);
  }

  /** Spawns etcd once; resolves when the process exists, rejects when it could not be spawned. */
  private async spawnOnce(spec: ServiceSpec): Promise<void> {
    await checkBinary(spec.binary);
    const fileEnv = await readServiceEnvFile(spec.envFile);
    await this.reapStale(spec, fileEnv);

    await mkdir(spec.workDir, { recursive: true, mode: 0o700 });
    const log = await openLog(join(spec.workDir, LOG_FILE));
    const env = buildServiceEnv(fileEnv);
    const proc = spawn(spec.binary, [], { env, cwd: spec.workDir, stdio: ['ignore', 'pipe', 'pipe'] });

    let onExit: (code: number | null, signal: NodeJS.Signals | null) => void = () => undefined;
    const exited = new Promise<void>((resolveExit) => {
      proc.once('exit', (code, signal) => {
        onExit(code, signal);
        resolveExit();
      });
    });
    try {
      await new Promise<void>((resolveSpawn, reject) => {
        proc.once('spawn', resolveSpawn);
        proc.once('error', reject);
      });
    } catch (err) {
      log.end();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') throw SvcBinaryMissing(spec.binary, describeError(err));
      throw err;
    }
    proc.on('error', (err) => this.log.warn({ err }, 'etcd child process error'));
    const pid = proc.pid ?? 0;
    const run: Run = { proc, pid, startedAt: Date.now(), exited, log };
    this.current = run;
    onExit = (code, signal) => this.onExit(run, code, signal);

    const started = new Date(run.startedAt).toISOString();
    writeLog(log, `--- etcd-agent: started ${spec.binary} as pid ${pid} at ${started} ---\n`);
    this.capture(run, proc.stdout);
    this.capture(run, proc.stderr);
    try {
      await writeFileAtomic(join(spec.workDir, PID_FILE), `${pid}\n`, { mode: 0o644 });
    } catch (err) {
      this.log.warn({ err, pid }, 'could not write the etcd pid file');
    }
    const history = this.restarts > 0 && this.lastExit !== '' ? ` (restarted ${this.restarts}× so far; last exit: ${this.lastExit})` : '';
    this.setState('active', `running as pid ${pid} since ${started}${history}`);
    this.log.info({ pid, binary: spec.binary }, 'etcd started');
  }

  private capture(run: Run, stream: NodeJS.ReadableStream | null): void {
    if (stream === null) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      writeLog(run.log, chunk);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.pushLine(line.replace(/\r$/, ''));
    });
    stream.on('end', () => {
      if (partial !== '') this.pushLine(partial);
      partial = '';
    });
  }

  private onExit(run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.current !== run) return;
    this.current = undefined;
    const now = Date.now();
    const at = new Date(now).toISOString();
    const how = signal !== null ? `killed by signal ${signal}` : `exited with code ${code ?? '?'}`;
    writeLog(run.log, `--- etcd-agent: pid ${run.pid} ${how} at ${at} ---\n`);
    // Let the pipes drain into the log before closing it.
    setTimeout(() => run.log.end(), 1000).unref();
    void this.removePidFile(run.pid);

    if (!this.wantRunning) {
      this.note(`pid ${run.pid} ${how} after a requested stop`);
      this.setState('inactive', `${how} at ${at} after a requested stop${this.stopNote}`);
      return;
    }
    this.lastExit = `${how} at ${at}`;
    if (now - run.startedAt >= this.resetAfterMs) this.delay = this.backoff.initialMs;
    const delay = this.delay;
    this.delay = nextBackoff(delay, this.backoff);
    this.note(`pid ${run.pid} ${how} unexpectedly; restarting in ${formatDelay(delay)}`);
    this.log.warn({ pid: run.pid, code, signal, delayMs: delay }, 'etcd exited unexpectedly; restarting');
    this.setState('activating', `${how} at ${at}; restarting in ${formatDelay(delay)}`);
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delay: number): void {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.serialize(() => this.respawn()).catch((err: unknown) => this.log.error({ err }, 'restart of etcd failed'));
    }, delay);
    this.restartTimer.unref();
  }

  private async respawn(): Promise<void> {
    const spec = this.spec;
    if (!this.wantRunning || this.current !== undefined || spec === undefined) return;
    this.restarts += 1;
    try {
      await this.spawnOnce(spec);
    } catch (err) {
      const delay = this.delay;
      this.delay = nextBackoff(delay, this.backoff);
      const reason = describeError(err);
      this.note(`restart failed: ${reason}`);
      this.log.error({ reason, delayMs: delay }, 'could not restart etcd; trying again');
      this.setState('failed', `could not restart at ${new Date().toISOString()}: ${reason}; trying again in ${formatDelay(delay)}`);
      this.scheduleRestart(delay);
    }
  }

  private async removePidFile(pid: number): Promise<void> {
    const spec = this.spec;
    if (spec === undefined) return;
    const file = join(spec.workDir, PID_FILE);
    try {
      if ((await readFileIfExists(file))?.trim() === String(pid)) await unlink(file);
    } catch {
      // Best effort: a stale pid file is checked before it is acted on.
    }
  }

  /**
   * Terminates an etcd left running by a previous agent (killed with -9): the
   * pid file names it, it runs this binary, and its ETCD_DATA_DIR is ours.
   */
  private async reapStale(spec: ServiceSpec, fileEnv: Record<string, string>): Promise<void> {
    const file = join(spec.workDir, PID_FILE);
    const text = (await readFileIfExists(file))?.trim();
    if (text === undefined) return;
    const pid = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid || pid === this.current?.pid) {
      if (pid !== this.current?.pid) await unlink(file).catch(() => undefined);
      return;
    }
    const dataDirs = [spec.dataDir, fileEnv.ETCD_DATA_DIR].filter((d): d is string => d !== undefined && d !== '');
    const verdict = await identify(pid, spec.binary, dataDirs);
    if (verdict !== 'ours') {
      this.log.debug({ pid, reason: verdict }, 'pid file names no etcd of ours; ignoring it');
      await unlink(file).catch(() => undefined);
      return;
    }
    this.log.warn(
      { pid, dataDir: dataDirs[0] },
      'an etcd left running by a previous agent holds this data dir; terminating it before starting a new one',
    );
    this.note(`terminating etcd pid ${pid} left running by a previous agent`);
    await terminate(pid, this.stopTimeoutMs, this.log);
    await unlink(file).catch(() => undefined);
  }
}

function validateSpec(spec: ServiceSpec): void {
  if (typeof spec.name !== 'string' || spec.name === '') throw SvcSpecInvalid('name', 'is empty');
  for (const field of ['binary', 'envFile', 'dataDir', 'workDir'] as const) {
    const value = spec[field];
    if (typeof value !== 'string' || value === '') throw SvcSpecInvalid(field, 'is empty; give an absolute path');
    if (!isAbsolute(value)) throw SvcSpecInvalid(field, `(${value}) is not an absolute path`);
  }
}

async function openLog(path: string): Promise<WriteStream> {
  try {
    if ((await stat(path)).size > LOG_ROTATE_BYTES) await rename(path, `${path}.1`);
  } catch {
    // No log yet.
  }
  const stream = createWriteStream(path, { flags: 'a', mode: 0o640 });
  stream.on('error', () => undefined);
  return stream;
}

function writeLog(stream: WriteStream, text: string): void {
  if (!stream.writableEnded && !stream.destroyed) stream.write(text);
}

function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolveWait) => {
    const timer = setTimeout(() => resolveWait(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolveWait(true);
    });
  });
}

type Verdict = 'ours' | 'gone' | string;

/** Whether `pid` is a live process of `binary` with one of `dataDirs` as ETCD_DATA_DIR. */
async function identify(pid: number, binary: string, dataDirs: string[]): Promise<Verdict> {
  if (!(await alive(pid))) return 'gone';
  let argv0: string;
  let environ: string[];
  try {
    argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0] ?? '';
    environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  } catch (err) {
    return `unreadable /proc/${pid} (${describeError(err)})`;
  }
  const realBinary = await realpath(binary).catch(() => binary);
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
  const argvReal = isAbsolute(argv0) ? await realpath(argv0).catch(() => argv0) : argv0;
  if (argv0 !== binary && argvReal !== realBinary && exe !== realBinary) return `another program (${argv0 || exe || '?'})`;
  const dir = environ.find((e) => e.startsWith('ETCD_DATA_DIR='))?.slice('ETCD_DATA_DIR='.length);
  if (dir === undefined) return 'an etcd without ETCD_DATA_DIR';
  const wanted = new Set(dataDirs.map((d) => resolve(d)));
  if (!wanted.has(resolve(dir))) return `an etcd with another data dir (${dir})`;
  return 'ours';
}

/** True while the process exists and is not a zombie. */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (!(await alive(pid))) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function terminate(pid: number, stopTimeoutMs: number, log: Logger): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  if (await waitGone(pid, stopTimeoutMs)) {
    log.info({ pid }, 'previous etcd terminated');
    return;
  }
  log.warn({ pid }, 'previous etcd ignored SIGTERM; sending SIGKILL');
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  if (!(await waitGone(pid, KILL_WAIT_MS))) throw SvcStopFailed('a previous etcd', pid, KILL_WAIT_MS);
}
