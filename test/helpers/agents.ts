/**
 * Runs real etcd-agent processes (the built CLI, bin/etcd-agent.js) on
 * loopback addresses, each with its own --root, and cleans every process up.
 * Each test file uses its own 127.0.X.0/24 so files never share an address.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, keyIdOfPublicKey } from '../../src/pki/index.js';
import type { StatusReport } from '../../src/agent/status/model.js';
import type { EtcdTls } from '../../src/etcd/client.js';
import { registerDescriber, waitFor } from './wait.js';
import { REPO } from './fixtures.js';

export const CLI = join(REPO, 'bin', 'etcd-agent.js');

export interface TestNode {
  name: string;
  address: string;
  root: string;
  configPath: string;
  statusPort: number;
  logFile: string;
  proc?: ChildProcess;
}

export interface NodeSetOptions {
  /** Third octet of the loopback /24 this test file owns. */
  subnet: number;
  count: number;
  cluster?: string;
  size?: number;
  token: string;
  /** Start index for addresses 127.0.<subnet>.<10+i>. */
  firstIndex?: number;
}

export function requireBuilt(): void {
  // bin/etcd-agent.js runs the bundle (dist/bundle/), which npm run build makes after tsc.
  if (!existsSync(join(REPO, 'dist', 'bundle', 'etcd-agent.js'))) {
    const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
    if (r.status !== 0) throw new Error('could not build dist/ (npm run build)');
  }
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Like cli(), without blocking this process: while a synchronous child runs,
 * nothing drains the stdout/stderr pipes of the agents already started, and an
 * agent whose log pipe is full stops (its log writes block).
 */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

export class NodeSet {
  readonly nodes: TestNode[] = [];
  private dir = '';
  private unregister: () => void = () => undefined;

  constructor(private readonly options: NodeSetOptions) {}

  /** Creates roots and runs `etcd-agent init` for each node. */
  async init(extraInitArgs: (n: TestNode) => string[] = () => []): Promise<void> {
    requireBuilt();
    this.dir = await mkdtemp(join(tmpdir(), `ea-it-${this.options.subnet}-`));
    this.unregister = registerDescriber(() => this.describe());
    const first = this.options.firstIndex ?? 1;
    const all: TestNode[] = [];
    for (let i = first; i < first + this.options.count; i++) all.push(this.makeNode(i));
    this.nodes.push(...all);
    for (const node of all) await this.initNode(node, all, extraInitArgs(node));
  }

  async initNode(node: TestNode, peers: TestNode[], extra: string[] = [], token = this.options.token): Promise<void> {
    const tokenFile = join(this.dir, `${node.name}.token`);
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const seeds = peers.filter((p) => p !== node).map((p) => p.address).join(',');
    const r = await cliAsync([
      'init',
      '--root', node.root,
      '--cluster', this.options.cluster ?? 'itest',
      '--size', String(this.options.size ?? 3),
      '--token-file', tokenFile,
      '--name', node.name,
      '--advertise-address', node.address,
      '--status-address', `${node.address}:${node.statusPort}`,
      '--no-mdns',
      '--service-manager', 'process',
      ...(seeds ? ['--seeds', seeds] : []),
      '--log-level', 'debug',
      ...extra,
    ]);
    if (r.status !== 0) throw new Error(`etcd-agent init for ${node.name} failed (${r.status}): ${r.stderr}`);
  }

  /**
   * Adds a node with its own root that is not part of the initial set; `extra`
   * goes to its `etcd-agent init`; `name` replaces n<index> as its node name.
   */
  async addNode(index: number, seedsFrom: TestNode[], token: string, extra: string[] = [], name?: string): Promise<TestNode> {
    const node = this.makeNode(index, name);
    this.nodes.push(node);
    await this.initNode(node, [node, ...seedsFrom], extra, token);
    return node;
  }

  private makeNode(index: number, name = `n${index}`): TestNode {
    const root = join(this.dir, `n${index}`);
    return {
      name,
      address: `127.0.${this.options.subnet}.${10 + index}`,
      root,
      configPath: join(root, 'etc', 'etcd-agent', 'config.yaml'),
      statusPort: 2391,
      logFile: join(this.dir, `n${index}.log`),
    };
  }

  /** `nofile`: run the agent with this many file descriptors (soft and hard limit, via prlimit); `env` adds to (or overrides) its environment, e.g. ETCD_AGENT_FAILPOINTS. */
  start(node: TestNode, options: { nofile?: number; env?: NodeJS.ProcessEnv } = {}): void {
    const log = createWriteStream(node.logFile, { flags: 'a' });
    const command = [process.execPath, CLI, 'run', '--config', node.configPath];
    if (options.nofile) command.unshift('prlimit', `--nofile=${options.nofile}:${options.nofile}`, '--');
    // prlimit execs the command: the pid stays the agent's.
    const proc = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: '', ...options.env },
    });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    node.proc = proc;
  }

  async stop(node: TestNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = node.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  etcdPid(node: TestNode): number | undefined {
    const file = join(node.root, 'var', 'lib', 'etcd-agent', 'etcd.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  killEtcd(node: TestNode): void {
    const pid = this.etcdPid(node);
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  async status(node: TestNode): Promise<StatusReport> {
    const { body } = await httpGet(node.address, node.statusPort, '/status');
    return JSON.parse(body) as StatusReport;
  }

  async waitFormed(nodes: TestNode[], timeoutMs: number): Promise<void> {
    await waitFor(
      `${nodes.map((n) => n.name).join(', ')} formed and ready`,
      async () => {
        for (const n of nodes) {
          const s = await this.status(n);
          if (s.phase !== 'formed' || !s.ready) return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 500, describe: () => this.describe(nodes) },
    );
  }

  /** Phase and reason of every node, plus the tail of its log, for failure messages. */
  async describe(nodes: TestNode[] = this.nodes): Promise<string> {
    const parts: string[] = [];
    for (const n of nodes) {
      let line = `${n.name}: `;
      try {
        const s = await this.status(n);
        line += `${s.phase}: ${s.reason}; etcd ${s.etcdService.state} ${s.etcdService.detail}`;
      } catch (err) {
        line += `status unavailable (${String(err)})`;
      }
      const log = existsSync(n.logFile) ? readFileSync(n.logFile, 'utf8').split('\n').filter((l) => !/"level":30/.test(l)).slice(-4).join('\n    ') : '';
      parts.push(`${line}\n    ${log}`);
    }
    return parts.join('\n');
  }

  pki(node: TestNode, file: string): string {
    return join(node.root, 'etc', 'etcd', 'pki', file);
  }

  /** The node's admin client material (etcdctl.crt/.key), as src/etcd's clients take it. */
  adminTls(node: TestNode): EtcdTls {
    const read = (file: string) => readFileSync(this.pki(node, file), 'utf8');
    return { caPem: read('ca.crt'), certPem: read('etcdctl.crt'), keyPem: read('etcdctl.key') };
  }

  /** For a set of one (`size: 1`): init, start and wait until its cluster formed; its etcd's admin client material. */
  async formAlone(timeoutMs = 120_000): Promise<{ node: TestNode; tls: EtcdTls; endpoints: string[] }> {
    await this.init();
    const [node] = this.nodes;
    if (!node || this.nodes.length !== 1) throw new Error(`formAlone: the set has ${this.nodes.length} nodes, not 1`);
    this.start(node);
    await this.waitFormed([node], timeoutMs);
    return { node, tls: this.adminTls(node), endpoints: [`https://${node.address}:2379`] };
  }

  etcdctl(node: TestNode, args: string[], withCert = true): { status: number | null; stdout: string; stderr: string } {
    const tlsArgs = [`--cacert=${this.pki(node, 'ca.crt')}`];
    if (withCert) tlsArgs.push(`--cert=${this.pki(node, 'etcdctl.crt')}`, `--key=${this.pki(node, 'etcdctl.key')}`);
    const r = spawnSync('etcdctl', [`--endpoints=https://${node.address}:2379`, '--dial-timeout=3s', '--command-timeout=5s', ...tlsArgs, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Kills every agent and etcd this set started, and removes the roots. */
  async cleanup(keep = false): Promise<void> {
    this.unregister();
    for (const n of this.nodes) {
      n.proc?.kill('SIGKILL');
      this.killEtcd(n);
    }
    if (this.dir && !keep) await rm(this.dir, { recursive: true, force: true });
  }
}

export function httpGet(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    // No keep-alive: a pooled socket the agent closed while this process was blocked in spawnSync (etcdctl) would be reused and reset.
    const req = get({ host, port, path, timeout: 3000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** `count` node keys, ordered by the node id each gives (lowest first), to decide who is in a view. */
export async function nodeKeysById(count: number): Promise<{ nodeId: string; keyPem: string }[]> {
  const keys = await Promise.all(Array.from({ length: count }, () => generateKeyPair()));
  return keys
    .map((k) => ({ nodeId: keyIdOfPublicKey(k.publicKeyPem), keyPem: k.privateKeyPem }))
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
}
