/**
 * The `systemd` service manager: etcd as etcd.service, a unit the agent writes
 * to /etc/systemd/system (replacing the distribution's unit of the same name)
 * and drives with systemctl.
 *
 * - install: system account, data dir and key ownership, unit file written
 *   atomically; `daemon-reload` only when the file changed or systemd has not
 *   loaded this very file (a packaged unit still loaded, NeedDaemonReload).
 *   The loaded unit is then checked for environment from anywhere but our
 *   etcd.conf (a drop-in bringing /etc/default/etcd back would let
 *   ETCD_DATA_DIR and friends leak in).
 * - start/restart use --no-block: etcd reports READY only with quorum, so a
 *   blocking start on the first member would wait for the others.
 * - status() is a synchronous snapshot, refreshed by every call and by a
 *   background poll; when etcd fails, the last journal lines go into it.
 * - close() only stops polling: etcd.service lives on without the agent.
 */
import { basename, isAbsolute } from 'node:path';
import { WriteMemo, writeFileAtomic } from '../util/atomic-write.js';
import { defineError, describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { renderEtcdUnit } from './etcd-unit.js';
import { checkBinary } from './binary.js';
import { readServiceEnvFile } from './env-file.js';
import { SvcNotInstalled, SvcSpecInvalid } from './errors.js';
import { ensureServiceAccount, prepareServicePaths, type ServiceAccount } from './service-account.js';
import type { ServiceActiveState, ServiceManager, ServiceSpec, ServiceStatus } from './service-manager.js';
import { Systemctl, parseUnixTimestamp, signalName } from './systemctl.js';

export const SvcUnitShadowed = defineError(
  'EA_SVC_UNIT_SHADOWED',
  (unit: string, loaded: string, written: string) =>
    `systemd loads ${unit} from ${loaded || '(nowhere)'}, not from ${written} that etcd-agent wrote; ` +
    `remove ${loaded || 'the other unit'} (a unit in /run/systemd/system or a symlink wins over /etc) and run 'systemctl daemon-reload'.`,
);

export const SvcForeignEnvironment = defineError(
  'EA_SVC_FOREIGN_ENV',
  (unit: string, what: string, dropIns: string) =>
    `${unit} would give etcd environment from outside etcd-agent's configuration (${what})${dropIns ? `, set by ${dropIns}` : ''}; ` +
    `it could change etcd's data dir or cluster, so etcd is not started. Remove those lines from the drop-in and the agent continues.`,
);

export interface SystemdServiceManagerOptions {
  /** Where the unit goes (config.paths.unitFile; tests prefix a root). Default /etc/systemd/system/<name>.service. */
  unitFile?: string;
  systemctl?: Systemctl;
  /** Background status poll period (default 5 s; 0 disables it). */
  pollMs?: number;
  /** Journal lines kept in status().recentLog when the unit fails (default 10). */
  journalLines?: number;
  /** Bound on a blocking `systemctl stop` (default 120 s). */
  stopTimeoutMs?: number;
  /** RestartSec= of the unit in seconds (default 5). */
  restartSec?: number;
  /** Account lookup/creation; tests replace it. */
  ensureAccount?: (user: string, group: string) => Promise<ServiceAccount>;
}

/** The properties every refresh reads. */
const SHOW_PROPERTIES = [
  'LoadState',
  'ConditionResult',
  'ActiveState',
  'SubState',
  'Result',
  'MainPID',
  'NRestarts',
  'ExecMainCode',
  'ExecMainStatus',
  'ExecMainStartTimestamp',
  'ExecMainExitTimestamp',
  'ActiveEnterTimestamp',
  'StateChangeTimestamp',
  'RestartUSec',
  'FragmentPath',
  'DropInPaths',
  'EnvironmentFiles',
  'Environment',
  'NeedDaemonReload',
] as const;

type Props = Map<string, string[]>;

const one = (props: Props, key: string): string => props.get(key)?.at(-1) ?? '';

/** Maps systemd's ActiveState to ours. */
export function mapActiveState(state: string): ServiceActiveState {
  switch (state) {
    case 'active':
    case 'reloading':
      return 'active';
    case 'activating':
    case 'deactivating':
    case 'inactive':
    case 'failed':
      return state;
    default:
      return 'unknown';
  }
}

/** How the main process last ended, in words ('exited with code 1', 'killed by signal SIGKILL'), or '' when it has not. */
export function describeExit(props: Props): string {
  const code = Number(one(props, 'ExecMainCode'));
  const status = Number(one(props, 'ExecMainStatus'));
  const at = parseUnixTimestamp(one(props, 'ExecMainExitTimestamp'));
  if (!at) return '';
  // ExecMainCode is a CLD_* code: 1 exited, 2 killed, 3 dumped core.
  const how = code === 1 ? `exited with code ${status}` : code === 2 ? `killed by ${signalName(status)}` : code === 3 ? `dumped core on ${signalName(status)}` : `ended (code ${code}, status ${status})`;
  return `${how} at ${at}`;
}

/** The status snapshot from `systemctl show` properties (pure, exported for tests). */
export function statusFromShow(unit: string, props: Props, recentLog: string[]): ServiceStatus {
  const load = one(props, 'LoadState');
  const active = one(props, 'ActiveState');
  const sub = one(props, 'SubState');
  const result = one(props, 'Result');
  const pid = Number(one(props, 'MainPID'));
  const restarts = Number(one(props, 'NRestarts')) || 0;
  const since = parseUnixTimestamp(one(props, 'StateChangeTimestamp'));
  const started = parseUnixTimestamp(one(props, 'ExecMainStartTimestamp'));
  const exit = describeExit(props);
  const restartIn = one(props, 'RestartUSec');
  const history = restarts > 0 ? `; restarted ${restarts}× by systemd${exit ? ` (last exit: ${exit})` : ''}` : '';

  let detail: string;
  if (load !== 'loaded') {
    detail = `${unit} is not loaded (LoadState=${load || 'unknown'})`;
  } else if (active === 'active' || active === 'reloading') {
    detail = `${active} (${sub}) as pid ${pid} since ${since ?? '?'}${history}`;
  } else if (active === 'activating' && sub === 'auto-restart') {
    detail = `${exit || `stopped (${result})`}; systemd restarts it in ${restartIn || 'a moment'}${restarts > 0 ? ` (restarted ${restarts}× so far)` : ''}`;
  } else if (active === 'activating') {
    detail = `activating (${sub}) as pid ${pid} since ${started ?? since ?? '?'}: etcd reports ready once its cluster has quorum${history}`;
  } else if (active === 'failed') {
    detail = `failed (Result=${result})${exit ? `: ${exit}` : ''}`;
  } else if (active === 'inactive' && one(props, 'ConditionResult') === 'no') {
    detail = 'inactive: not started because its data dir holds no etcd data (ConditionPathExists); the agent re-adds this member';
  } else if (active === 'inactive') {
    detail = `inactive (${sub})${exit && result !== 'success' ? `; last run ${exit} (Result=${result})` : ''}`;
  } else {
    detail = `${active || 'unknown'} (${sub})`;
  }
  const last = recentLog.at(-1);
  if (last && (active === 'failed' || sub === 'auto-restart')) detail += `; last log line: ${last}`;

  const status: ServiceStatus = { state: mapActiveState(active), restarts, detail, recentLog: [...recentLog] };
  if (pid > 0) status.pid = pid;
  if (since) status.since = since;
  return status;
}

/** Whether the unit is in a state worth reading the journal for. */
function troubled(props: Props): boolean {
  const active = one(props, 'ActiveState');
  const result = one(props, 'Result');
  return active === 'failed' || one(props, 'SubState') === 'auto-restart' || (result !== '' && result !== 'success');
}

/** Environment files and ETCD_* variables the loaded unit has besides `envFile` (pure, exported for tests). */
export function foreignEnvironment(props: Props, envFile: string): string[] {
  const found: string[] = [];
  for (const entry of props.get('EnvironmentFiles') ?? []) {
    const file = entry.replace(/ \(ignore_errors=(yes|no)\)$/, '');
    if (file !== '' && file !== envFile) found.push(`EnvironmentFile=${file}`);
  }
  for (const line of props.get('Environment') ?? []) {
    for (const m of line.matchAll(/(?:^|\s)"?(ETCD_[A-Za-z0-9_]*)=/g)) found.push(`Environment=${m[1]}`);
  }
  return found;
}

export class SystemdServiceManager implements ServiceManager {
  readonly kind = 'systemd' as const;

  private readonly log: Logger;
  private readonly systemctl: Systemctl;
  private readonly unitFileOption: string | undefined;
  private readonly pollMs: number;
  private readonly journalLines: number;
  private readonly stopTimeoutMs: number;
  private readonly restartSec: number | undefined;
  private readonly ensureAccount: (user: string, group: string) => Promise<ServiceAccount>;

  private spec: ServiceSpec | undefined;
  private unit = '';
  private account: ServiceAccount | undefined;
  private queue: Promise<void> = Promise.resolve();
  private busy = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private refreshedAt = 0;
  /** The unit the last successful refresh was for. */
  private refreshedUnit = '';

  private snapshot: ServiceStatus = { state: 'unknown', restarts: 0, detail: 'not installed yet', recentLog: [] };
  private props: Props = new Map();
  private recentLog: string[] = [];
  /** What the journal was last read for, so a steady failure is read once, not every poll. */
  private journalKey = '';
  /** The unit file as last found right: install() runs every tick, and stats it instead of reading it. */
  private readonly unitMemo = new WriteMemo();

  constructor(logger: Logger, options: SystemdServiceManagerOptions = {}) {
    this.log = logger.child(logger.bindings().component === undefined ? { component: 'service', backend: 'systemd' } : { backend: 'systemd' });
    this.systemctl = options.systemctl ?? new Systemctl();
    this.unitFileOption = options.unitFile;
    this.pollMs = options.pollMs ?? 5000;
    this.journalLines = options.journalLines ?? 10;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 120_000;
    this.restartSec = options.restartSec;
    this.ensureAccount = options.ensureAccount ?? ((user, group) => ensureServiceAccount(user, group));
  }

  install(spec: ServiceSpec): Promise<{ changed: boolean }> {
    return this.serialize(() => this.doInstall(spec));
  }

  enable(): Promise<void> {
    return this.serialize(async () => {
      const unit = this.requireUnit();
      await this.systemctl.run(['enable', unit]);
      await this.refresh();
    });
  }

  start(): Promise<void> {
    return this.serialize(async () => {
      const unit = this.requireUnit();
      await this.refresh();
      if (this.snapshot.state === 'active' || this.snapshot.state === 'activating') return;
      await this.resetIfFailed(unit);
      this.log.info({ unit }, 'starting etcd (systemctl start --no-block)');
      await this.systemctl.run(['start', '--no-block', unit]);
      await this.refresh();
    });
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      const unit = this.requireUnit();
      await this.refresh();
      await this.resetIfFailed(unit);
      this.log.info({ unit }, 'restarting etcd (systemctl restart --no-block)');
      await this.systemctl.run(['restart', '--no-block', unit]);
      await this.refresh();
    });
  }

  stop(): Promise<void> {
    return this.serialize(async () => {
      const unit = this.requireUnit();
      this.log.info({ unit }, 'stopping etcd (systemctl stop)');
      await this.systemctl.run(['stop', unit], { timeoutMs: this.stopTimeoutMs });
      await this.refresh();
    });
  }

  refreshStatus(): Promise<ServiceStatus> {
    return this.serialize(async () => {
      this.requireUnit();
      await this.refresh();
      return this.status();
    });
  }

  status(): ServiceStatus {
    return { ...this.snapshot, recentLog: [...this.snapshot.recentLog] };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.queue;
  }

  // ---------------------------------------------------------------------------

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    this.busy += 1;
    const run = this.queue.then(fn, fn).finally(() => {
      this.busy -= 1;
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private requireUnit(): string {
    if (this.spec === undefined) throw SvcNotInstalled('etcd');
    return this.unit;
  }

  private async doInstall(spec: ServiceSpec): Promise<{ changed: boolean }> {
    const unitFile = this.unitFileOption ?? `/etc/systemd/system/${spec.name}.service`;
    validate(spec, unitFile);
    await checkBinary(spec.binary);
    const user = spec.user ?? 'etcd';
    const group = spec.group ?? user;
    if (this.account?.user !== user || this.account.group !== group) this.account = await this.ensureAccount(user, group);

    const env = await readServiceEnvFile(spec.envFile);
    const keys = [env.ETCD_KEY_FILE, env.ETCD_PEER_KEY_FILE].filter((k): k is string => k !== undefined && isAbsolute(k));
    const changes = await prepareServicePaths(this.account, { dataDir: spec.dataDir, secretFiles: [...new Set(keys)] });
    if (changes.length > 0) this.log.info({ changes }, 'prepared etcd data dir and keys');

    const text = renderEtcdUnit({
      binary: spec.binary,
      envFile: spec.envFile,
      dataDir: spec.dataDir,
      user,
      group,
      ...(this.restartSec !== undefined ? { restartSec: this.restartSec } : {}),
      ...(spec.startEmptyMarker !== undefined ? { startEmptyMarker: spec.startEmptyMarker } : {}),
    });
    const written = await writeFileAtomic(unitFile, text, { mode: 0o644, memo: this.unitMemo });
    this.spec = { ...spec };
    this.unit = basename(unitFile);

    // install() runs every agent tick (1 s). Asking systemd each time is a
    // `systemctl show` child process per second on every packaged node; the
    // snapshot is refreshed when something changed here or when it is as old
    // as the background poll's period. Whoever acts on "not running" asks
    // again first (EtcdService.ensureRunning through refreshStatus(), and start()).
    if (written || this.props.size === 0 || this.unit !== this.refreshedUnit || Date.now() - this.refreshedAt >= this.pollMs) await this.refresh();
    const loadedFrom = one(this.props, 'FragmentPath');
    const stale = one(this.props, 'NeedDaemonReload') === 'yes';
    let changed = written;
    if (written || stale || loadedFrom !== unitFile) {
      const why = written ? 'unit file changed' : stale ? 'systemd has an older copy loaded' : `systemd had ${loadedFrom || 'nothing'} loaded`;
      this.log.info({ unit: this.unit, unitFile, why }, 'systemctl daemon-reload');
      await this.systemctl.run(['daemon-reload']);
      await this.refresh();
      changed = true;
      const now = one(this.props, 'FragmentPath');
      if (now !== unitFile) throw SvcUnitShadowed(this.unit, now, unitFile);
    }
    const foreign = foreignEnvironment(this.props, spec.envFile);
    if (foreign.length > 0) throw SvcForeignEnvironment(this.unit, foreign.join(', '), (this.props.get('DropInPaths') ?? []).join(' '));
    this.startPolling();
    return { changed };
  }

  private async resetIfFailed(unit: string): Promise<void> {
    // A failed unit keeps its failure (and possibly a start-limit hit) until reset.
    if (this.snapshot.state === 'failed') await this.systemctl.run(['reset-failed', unit]);
  }

  private startPolling(): void {
    if (this.timer !== undefined || this.closed || this.pollMs <= 0) return;
    this.timer = setInterval(() => {
      // Never queue behind a slow call, and skip when a call just refreshed (the agent calls install() every tick).
      if (this.busy > 0 || this.closed || Date.now() - this.refreshedAt < this.pollMs / 2) return;
      this.serialize(() => this.refresh()).catch(() => undefined);
    }, this.pollMs);
    this.timer.unref();
  }

  /** Reads the unit's state into the snapshot; on failure the snapshot says why instead of throwing. */
  private async refresh(): Promise<void> {
    const unit = this.unit;
    if (unit === '') return;
    let props: Props;
    try {
      props = await this.systemctl.show(unit, SHOW_PROPERTIES);
    } catch (err) {
      const reason = describeError(err);
      this.log.warn({ unit, reason }, 'cannot read the etcd unit state');
      this.snapshot = { ...this.snapshot, state: 'unknown', detail: `cannot ask systemd about ${unit}: ${reason}` };
      return;
    }
    this.props = props;
    this.refreshedAt = Date.now();
    this.refreshedUnit = unit;
    if (troubled(props)) {
      const key = [one(props, 'ActiveState'), one(props, 'SubState'), one(props, 'NRestarts'), one(props, 'ExecMainExitTimestamp')].join('/');
      if (key !== this.journalKey) {
        this.journalKey = key;
        try {
          this.recentLog = await this.systemctl.journal(unit, this.journalLines);
        } catch (err) {
          this.recentLog = [`etcd-agent: cannot read the journal of ${unit}: ${describeError(err)}`];
        }
        const status = statusFromShow(unit, props, this.recentLog);
        this.log.warn({ unit, detail: status.detail }, 'etcd unit is in trouble');
      }
    }
    this.snapshot = statusFromShow(unit, props, this.recentLog);
  }
}

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+$/;

function validate(spec: ServiceSpec, unitFile: string): void {
  if (typeof spec.name !== 'string' || !UNIT_NAME.test(spec.name)) throw SvcSpecInvalid('name', `(${JSON.stringify(spec.name)}) is not a unit name`);
  for (const field of ['binary', 'envFile', 'dataDir'] as const) {
    const value = spec[field];
    if (typeof value !== 'string' || !isAbsolute(value)) throw SvcSpecInvalid(field, `(${JSON.stringify(value)}) is not an absolute path`);
  }
  if (!isAbsolute(unitFile) || basename(unitFile) !== `${spec.name}.service`) {
    throw SvcSpecInvalid('unitFile', `(${unitFile}) must be an absolute path ending in /${spec.name}.service`);
  }
}

