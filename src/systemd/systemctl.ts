/**
 * The one way the agent talks to systemd: `systemctl` and `journalctl` as
 * child processes, each call bounded by a timeout, stdout/stderr captured (and
 * capped), and failures reported with systemd's own words.
 *
 * Why child processes and not D-Bus: systemctl is the interface operators know
 * (every error can be reproduced by pasting the command), it needs no extra
 * dependency, and the agent calls it a few times a minute at most.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { defineError } from '../util/errors.js';

export interface CommandResult {
  /** Exit code; null when the process was killed (timeout) or could not run. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface CommandOptions {
  timeoutMs: number;
  /** Added to the agent's environment. */
  env?: Record<string, string>;
  /** Cap on captured stdout and stderr, each (default 1 MiB). */
  maxBytes?: number;
}

/** Runs a program; never throws for a non-zero exit (callers decide), only for a program that cannot be started. */
export type CommandRunner = (file: string, args: readonly string[], options: CommandOptions) => Promise<CommandResult>;

const DEFAULT_MAX_BYTES = 1024 * 1024;

export const runCommand: CommandRunner = (file, args, options) =>
  new Promise((resolveRun, reject) => {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const child = spawn(file, [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < maxBytes) out.push(chunk.subarray(0, maxBytes - outBytes));
      outBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < maxBytes) err.push(chunk.subarray(0, maxBytes - errBytes));
      errBytes += chunk.length;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });

export const SvcSystemctlFailed = defineError(
  'EA_SVC_SYSTEMCTL',
  (command: string, what: string, words: string) =>
    `\`${command}\` ${what}${words ? `: ${words}` : ''}; see 'systemctl status etcd' and 'journalctl -u etcd' on this host.`,
);

/** The first lines of what a command said, on one line: enough for a log line or /status. */
export function systemdWords(text: string, maxChars = 500): string {
  const words = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' / ');
  return words.length > maxChars ? `${words.slice(0, maxChars)}…` : words;
}

export interface SystemctlOptions {
  runner?: CommandRunner;
  /** Bound on one systemctl call (default 30 s: a daemon-reload on a busy host takes seconds). */
  timeoutMs?: number;
  /** Bound on one journalctl call (default 5 s). */
  journalTimeoutMs?: number;
  systemctlPath?: string;
  journalctlPath?: string;
}

/**
 * Environment for every systemctl call. SYSTEMCTL_SKIP_SYSV: Debian's
 * etcd-server also ships /etc/init.d/etcd, and `systemctl enable` would then
 * run update-rc.d to edit /etc/rc?.d — pointless next to a native unit, and
 * impossible from the agent's sandbox, where /etc is read-only but for
 * /etc/etcd and /etc/systemd/system.
 */
const SYSTEMCTL_ENV: Record<string, string> = {
  SYSTEMCTL_SKIP_SYSV: '1',
  SYSTEMD_PAGER: '',
  SYSTEMD_COLORS: '0',
  LC_ALL: 'C.UTF-8',
};

export class Systemctl {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly journalTimeoutMs: number;
  private readonly systemctlPath: string;
  private readonly journalctlPath: string;

  constructor(options: SystemctlOptions = {}) {
    this.runner = options.runner ?? runCommand;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.journalTimeoutMs = options.journalTimeoutMs ?? 5000;
    this.systemctlPath = options.systemctlPath ?? 'systemctl';
    this.journalctlPath = options.journalctlPath ?? 'journalctl';
  }

  /**
   * `systemctl ARGS…`; resolves on exit 0 (or a code in `okCodes`), rejects
   * with EA_SVC_SYSTEMCTL carrying systemd's stderr otherwise.
   */
  async run(args: readonly string[], options: { timeoutMs?: number; okCodes?: readonly number[] } = {}): Promise<CommandResult> {
    return this.exec(this.systemctlPath, args, options.timeoutMs ?? this.timeoutMs, options.okCodes ?? [0]);
  }

  /**
   * `systemctl show UNIT -p A,B…` as a map; properties systemd prints several
   * times (EnvironmentFiles=) keep every value, in order.
   */
  async show(unit: string, properties: readonly string[]): Promise<Map<string, string[]>> {
    const r = await this.run(['show', unit, '--timestamp=unix', '-p', properties.join(',')]);
    return parseShow(r.stdout);
  }

  /** The last `lines` lines the unit logged (`journalctl -u UNIT -n N -o cat`), each capped at 500 characters. */
  async journal(unit: string, lines: number): Promise<string[]> {
    const r = await this.exec(
      this.journalctlPath,
      ['-u', unit, '-n', String(lines), '--no-pager', '-o', 'cat', '-q'],
      this.journalTimeoutMs,
      [0],
      64 * 1024,
    );
    return r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .map((l) => (l.length > 500 ? `${l.slice(0, 500)}…` : l));
  }

  private async exec(
    file: string,
    args: readonly string[],
    timeoutMs: number,
    okCodes: readonly number[],
    maxBytes?: number,
  ): Promise<CommandResult> {
    const command = [file, ...args].join(' ');
    let r: CommandResult;
    try {
      r = await this.runner(file, args, { timeoutMs, env: SYSTEMCTL_ENV, ...(maxBytes ? { maxBytes } : {}) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw SvcSystemctlFailed(
        command,
        code === 'ENOENT' ? `cannot run: ${file} is not installed` : 'cannot run',
        code === 'ENOENT' ? 'is systemd installed and in PATH?' : String(err),
      );
    }
    if (r.timedOut) {
      const bound = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`;
      throw SvcSystemctlFailed(command, `did not finish within ${bound} (killed)`, systemdWords(r.stderr));
    }
    if (r.code === null || !okCodes.includes(r.code)) {
      const how = r.code === null ? `was killed by ${r.signal ?? 'a signal'}` : `failed with exit code ${r.code}`;
      throw SvcSystemctlFailed(command, how, systemdWords(r.stderr || r.stdout));
    }
    return r;
  }
}

/** Parses `systemctl show` output (KEY=VALUE lines). */
export function parseShow(text: string): Map<string, string[]> {
  const props = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const values = props.get(key);
    if (values) values.push(line.slice(eq + 1));
    else props.set(key, [line.slice(eq + 1)]);
  }
  return props;
}

/** `@1700000000` (systemctl --timestamp=unix) → ISO time; undefined for empty or unset timestamps. */
export function parseUnixTimestamp(value: string | undefined): string | undefined {
  const m = /^@(\d+)$/.exec(value?.trim() ?? '');
  if (!m || m[1] === '0') return undefined;
  return new Date(Number(m[1]) * 1000).toISOString();
}

/** 9 → 'SIGKILL'. */
export function signalName(num: number): string {
  for (const [name, n] of Object.entries(constants.signals)) if (n === num) return name;
  return `signal ${num}`;
}
