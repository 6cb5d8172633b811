/**
 * etcd-agents on test-bed hosts (see netns.ts): each host runs the built CLI
 * (`bin/etcd-agent.js init …` then `run`) with its own --root, the `process`
 * service manager, its hostname as node name and its eth1 address as advertise
 * address (both auto-detected inside the host, as on a real machine). The
 * status API stays on the host's own 127.0.0.1:2391 and is read from inside
 * the host.
 */
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusReport } from '../../src/agent/status/model.js';
import { CLI, requireBuilt } from './agents.js';
import type { ExecResult } from './fixtures.js';
import type { TestBed } from './netns.js';
import { registerDescriber, waitFor } from './wait.js';

export interface AgentInit {
  cluster: string;
  size: number;
  token: string;
  /** Default true. */
  mdns?: boolean;
  /** Seed hosts by index (their eth1 address) or as literal host[:port]. */
  seeds?: (number | string)[];
  /** A node key (PEM) made beforehand, whose key id is the node id (see nodeKeysById), e.g. to decide who is a spare; default: the agent makes one. */
  nodeKey?: string;
  logLevel?: string;
  extraArgs?: string[];
}

export class NetnsAgents {
  private dir = '';
  private readonly procs = new Map<number, ChildProcess>();
  private unregister: () => void = () => undefined;

  constructor(readonly bed: TestBed) {}

  private async ensureDir(): Promise<string> {
    if (!this.dir) {
      this.dir = await mkdtemp(join(tmpdir(), `${this.bed.id}-agents-`));
      this.unregister = registerDescriber(() => this.describe());
    }
    return this.dir;
  }

  root(i: number): string {
    return join(this.dir, this.bed.host(i).hostname);
  }

  configPath(i: number): string {
    return join(this.root(i), 'etc', 'etcd-agent', 'config.yaml');
  }

  logFile(i: number): string {
    return join(this.dir, `${this.bed.host(i).hostname}.log`);
  }

  pki(i: number, file: string): string {
    return join(this.root(i), 'etc', 'etcd', 'pki', file);
  }

  /** `etcd-agent init` inside host i (so hostname and address are detected there). */
  async init(i: number, o: AgentInit): Promise<void> {
    requireBuilt();
    await this.ensureDir();
    const root = this.root(i);
    await mkdir(root, { recursive: true });
    const tokenFile = join(this.dir, `${this.bed.host(i).hostname}.token`);
    await writeFile(tokenFile, `${o.token}\n`, { mode: 0o600 });
    const seeds = (o.seeds ?? []).map((s) => (typeof s === 'number' ? this.bed.host(s).address : s));
    const r = await this.bed.exec(i, [
      process.execPath, CLI, 'init',
      '--root', root,
      '--cluster', o.cluster,
      '--size', String(o.size),
      '--token-file', tokenFile,
      o.mdns === false ? '--no-mdns' : '--mdns',
      '--service-manager', 'process',
      '--log-level', o.logLevel ?? 'debug',
      ...(seeds.length > 0 ? ['--seeds', seeds.join(',')] : []),
      ...(o.extraArgs ?? []),
      // A CLI start-up on a loaded machine (two test files at a time) can take many seconds.
    ], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`etcd-agent init on ${this.bed.host(i).hostname} failed (${r.code}): ${r.stderr}${r.stdout}`);
    if (o.nodeKey) {
      // The node id is the key id of the node key (src/pki/key-id.ts): choosing the key chooses the id.
      const pki = join(root, 'etc', 'etcd', 'pki');
      await mkdir(pki, { recursive: true, mode: 0o755 });
      await writeFile(join(pki, 'server.key'), o.nodeKey, { mode: 0o600 });
    }
  }

  /** `etcd-agent run` inside host i; output appended to logFile(i); `env` adds to its environment. */
  start(i: number, env: NodeJS.ProcessEnv = {}): ChildProcess {
    const proc = this.bed.spawn(i, [process.execPath, CLI, 'run', '--config', this.configPath(i)], {
      logFile: this.logFile(i),
      env: { ...env, NOTIFY_SOCKET: '' },
    });
    this.procs.set(i, proc);
    return proc;
  }

  proc(i: number): ChildProcess | undefined {
    return this.procs.get(i);
  }

  /** SIGTERM (the agent stops its etcd), bounded. */
  async stop(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.procs.get(i);
    if (p) await this.bed.stop(p, signal);
  }

  running(i: number): boolean {
    const p = this.procs.get(i);
    return Boolean(p && p.exitCode === null && p.signalCode === null);
  }

  /** GET /status of host i's agent (its loopback-only status API, read from inside the host). */
  async status(i: number): Promise<StatusReport> {
    const r = await this.bed.httpGet(i, 'http://127.0.0.1:2391/status');
    if (r.status !== 200) throw new Error(`/status on ${this.bed.host(i).hostname}: HTTP ${r.status}`);
    return JSON.parse(r.body) as StatusReport;
  }

  async statuses(hosts: number[]): Promise<StatusReport[]> {
    return Promise.all(hosts.map((i) => this.status(i)));
  }

  async waitFormed(hosts: number[], timeoutMs: number): Promise<StatusReport[]> {
    return waitFor(
      `${hosts.map((i) => this.bed.host(i).hostname).join(', ')} formed and ready`,
      async () => {
        const all = await this.statuses(hosts);
        return all.every((s) => s.phase === 'formed' && s.ready) ? all : undefined;
      },
      { timeoutMs, intervalMs: 500, describe: () => this.describe(hosts) },
    );
  }

  /** Phase, reason and log tail of each host, for failure messages. */
  async describe(hosts: number[] = [...this.procs.keys()]): Promise<string> {
    const parts: string[] = [];
    for (const i of hosts) {
      const h = this.bed.host(i);
      let line = `${h.hostname} (${h.address}${this.running(i) ? '' : ', agent not running'}): `;
      try {
        const s = await this.status(i);
        line += `${s.phase}: ${s.reason}; etcd ${s.etcdService.state} ${s.etcdService.detail}`;
      } catch (err) {
        line += `status unavailable (${String(err)})`;
      }
      const file = this.logFile(i);
      const tail = existsSync(file)
        ? readFileSync(file, 'utf8').split('\n').filter((l) => l && !/"level":(20|30)/.test(l)).slice(-4).join('\n    ')
        : '';
      parts.push(`${line}\n    ${tail}`);
    }
    return parts.join('\n');
  }

  /** etcdctl inside host i against its own etcd, with the node's admin client certificate. */
  etcdctl(i: number, args: string[], withCert = true): Promise<ExecResult> {
    const tls = [`--cacert=${this.pki(i, 'ca.crt')}`];
    if (withCert) tls.push(`--cert=${this.pki(i, 'etcdctl.crt')}`, `--key=${this.pki(i, 'etcdctl.key')}`);
    return this.bed.exec(i, ['etcdctl', `--endpoints=https://${this.bed.host(i).address}:2379`, '--dial-timeout=3s', '--command-timeout=5s', ...tls, ...args], {
      timeoutMs: 20_000,
      env: { ETCDCTL_API: '3' },
    });
  }

  /** SHA-256 fingerprint of the CA certificate host i trusts. */
  caFingerprint(i: number): string {
    return new X509Certificate(readFileSync(this.pki(i, 'ca.crt'))).fingerprint256;
  }

  /** Lines of host i's agent log. */
  log(i: number): string {
    const file = this.logFile(i);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** Removes the roots (the bed's destroy() stops the processes). KEEP_TEST_DIRS=1 keeps them. */
  async cleanup(): Promise<void> {
    this.unregister();
    if (!this.dir) return;
    if (process.env.KEEP_TEST_DIRS === '1') {
      process.stderr.write(`kept agent roots and logs in ${this.dir}\n`);
      return;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
