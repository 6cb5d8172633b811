/**
 * What the invariant checks need from a node, whatever bed it runs on
 * (loopback NodeSet or network-namespace host): its root on disk, its log
 * files, its status API, etcdctl against its own etcd, its processes.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface ExecOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface TrialNode {
  name: string;
  root: string;
  /** The agent's stdout/stderr file(s) and etcd's own log. */
  logFiles(): string[];
  /** GET on the node's status API (/status, /readyz, /metrics). */
  get(path: string): Promise<{ status: number; body: string }>;
  /** etcdctl against the node's own etcd with its admin client certificate. */
  etcdctl(args: string[]): Promise<ExecOutcome>;
  /** Pids of the node's agent and etcd (for the process-list check). */
  pids(): number[];
}

export const pkiDir = (root: string): string => join(root, 'etc', 'etcd', 'pki');
export const stateDir = (root: string): string => join(root, 'var', 'lib', 'etcd-agent');
export const confFile = (root: string): string => join(root, 'etc', 'etcd', 'etcd.conf');

/** Runs a command to completion, bounded, never rejecting (the event loop keeps draining agents' pipes meanwhile). */
export function execBounded(file: string, args: string[], timeoutMs = 20_000, env: NodeJS.ProcessEnv = {}): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr: stderr || (e && typeof e.code !== 'number' ? String(e.message) : '') });
    });
  });
}

/**
 * Pids of processes whose working directory is under `dir`. etcd under the
 * `process` service manager runs in the state dir with no arguments, so this
 * finds an etcd a killed agent left behind even when its pid file was rewritten.
 */
export function pidsWithCwdUnder(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL to each pid, then waits (bounded) until they are gone. */
export async function killAndWait(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter(alive);
  }
  return left;
}
