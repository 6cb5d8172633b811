/**
 * The footprint rows of issue 14 that formation.ts does not time, on loopback
 * (127.0.153.0/24, the `process` service manager, no root needed):
 *
 *   start:   ms from spawning `etcd-agent run` (a freshly initialised node)
 *            until both its peer API and its status API accept a TCP
 *            connection; polled every 2 ms; median of --runs fresh nodes.
 *   restart: the same for the formed single-member node below, stopped and
 *            started again --runs times: what a host pays on every restart
 *            of the agent for years, with its key, certificates and state on
 *            disk (a fresh node makes its RSA key on the way to listen()).
 *   status:  /readyz and /status of a formed single-member cluster, 50
 *            connections (autocannon, keep-alive) for --load-seconds each:
 *            requests/s and p99 latency. Answers come from memory, so this
 *            is the agent's HTTP path, never etcd's.
 *   package: the installed size of dist/packages/etcd-agent_*.deb when one
 *            has been built (`npm run package`), else an estimate of the same
 *            tree: this machine's node binary stripped, dist/ and the
 *            production node_modules (`npm ls --omit=dev`) less what
 *            build.sh prunes (tests, TypeScript, maps, docs).
 *
 * Run alone (after `npm run build`):
 *   TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/footprint.ts [--runs 5] [--load-seconds 5] [--json FILE]
 * formation.ts (`npm run bench`) calls footprint() after its own runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { generateToken } from '../src/pki/index.js';
import { REPO } from '../test/helpers/fixtures.js';
import { shippedAgentEnvironment } from './unit-env.js';

const CLI = join(REPO, 'bin', 'etcd-agent.js');
const SUBNET = '127.0.153';
const PEER_PORT = 2390;
const STATUS_PORT = 2391;

export interface LoadResult {
  path: string;
  connections: number;
  seconds: number;
  requestsPerSecond: number;
  p99Ms: number;
  p50Ms: number;
  non2xx: number;
  errors: number;
}

export interface FootprintResult {
  startToListeningMs: number[];
  startToListeningMedianMs: number;
  restartToListeningMs: number[];
  restartToListeningMedianMs: number;
  load: LoadResult[];
  package: { source: 'deb' | 'estimate'; installedMB: number; file?: string; debMB?: number; parts?: Record<string, number> };
  loadAverage: [number, number];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`etcd-agent ${args[0]} failed (${r.status}): ${r.stderr}`);
}

interface BenchNode {
  root: string;
  address: string;
  config: string;
  proc?: ChildProcess;
}

async function initNode(dir: string, index: number, size: number): Promise<BenchNode> {
  const root = join(dir, `n${index}`);
  const address = `${SUBNET}.${10 + index}`;
  const tokenFile = join(dir, `n${index}.token`);
  await writeFile(tokenFile, `${generateToken()}\n`, { mode: 0o600 });
  cli([
    'init', '--root', root, '--cluster', 'footprint', '--size', String(size), '--token-file', tokenFile,
    '--name', `n${index}`, '--advertise-address', address, '--status-address', `${address}:${STATUS_PORT}`,
    '--peer-port', String(PEER_PORT), '--no-mdns', '--service-manager', 'process',
    // A seed nobody answers: a node of size > 1 stays discovering, as on a real first start.
    ...(size > 1 ? ['--seeds', `${SUBNET}.250`] : []),
    '--log-level', 'warn',
  ]);
  return { root, address, config: join(root, 'etc', 'etcd-agent', 'config.yaml') };
}

function startNode(node: BenchNode): ChildProcess {
  const proc = spawn(process.execPath, [CLI, 'run', '--config', node.config], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, ...shippedAgentEnvironment(), NOTIFY_SOCKET: '' },
  });
  node.proc = proc;
  return proc;
}

/** SIGTERM, at most 15 s, then SIGKILL; and the etcd it may have started. */
async function stopNode(node: BenchNode): Promise<void> {
  const proc = node.proc;
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  const pidFile = join(node.root, 'var', 'lib', 'etcd-agent', 'etcd.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/** ms from spawn until both APIs accept connections, for one fresh node. */
async function startToListening(dir: string, index: number): Promise<number> {
  return timeToListening(await initNode(dir, index, 3));
}

/** ms from spawning the node's agent until both APIs accept connections; stops it (and its etcd) again. */
async function timeToListening(node: BenchNode): Promise<number> {
  const t0 = performance.now();
  startNode(node);
  try {
    let peer = false;
    let status = false;
    while (performance.now() - t0 < 30_000) {
      if (!peer) peer = await accepts(node.address, PEER_PORT);
      if (!status) status = await accepts(node.address, STATUS_PORT);
      if (peer && status) return Math.round(performance.now() - t0);
      if (node.proc?.exitCode !== null) throw new Error(`the agent exited (${node.proc?.exitCode}) before both APIs listened`);
      await sleep(2);
    }
    throw new Error('both APIs were not listening within 30 s');
  } finally {
    await stopNode(node);
  }
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

async function load(url: string, path: string, seconds: number): Promise<LoadResult> {
  const r = await autocannon({ url: `${url}${path}`, connections: 50, duration: seconds, pipelining: 1 });
  return {
    path,
    connections: 50,
    seconds,
    requestsPerSecond: Math.round(r.requests.average),
    p99Ms: r.latency.p99,
    p50Ms: r.latency.p50,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

function du(path: string): number {
  const r = spawnSync('du', ['-sb', path], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0] ?? 0);
}

const PRUNED_DIRS = new Set(['example', 'examples', 'bench', 'benchmark', 'benchmarks', 'doc', 'docs', 'integration', 'scripts', 'test', 'tests', '__tests__']);

/** Bytes of the files under `dir` that packaging/build.sh keeps (approximately: its rules, without the package.json checks). */
function prunedSize(dir: string): number {
  let sum = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const name = entry.name;
    const path = join(dir, name);
    if (name.startsWith('.')) continue;
    if (entry.isDirectory()) {
      if (name === 'node_modules' || PRUNED_DIRS.has(name)) continue;
      // sd-notify: only build/Release/notify.node ships.
      if (name === 'build' && dir.endsWith('/sd-notify')) {
        const addon = join(path, 'Release', 'notify.node');
        sum += existsSync(addon) ? statSync(addon).size : 0;
        continue;
      }
      sum += prunedSize(path);
    } else if (entry.isFile()) {
      if (/\.(ts|mts|cts|map|sh)$/.test(name)) continue;
      if (/\.md$/i.test(name) && !/^(licen|copying|notice)/i.test(name)) continue;
      sum += statSync(path).size;
    }
  }
  return sum;
}

export function packageSize(): FootprintResult['package'] {
  const out = join(REPO, 'dist', 'packages');
  const deb = existsSync(out) ? readdirSync(out).filter((f) => /^etcd-agent_.*\.deb$/.test(f)).sort().pop() : undefined;
  if (deb) {
    const file = join(out, deb);
    const kib = Number(spawnSync('dpkg-deb', ['-f', file, 'Installed-Size'], { encoding: 'utf8' }).stdout.trim());
    return { source: 'deb', installedMB: +((kib * 1024) / 1e6).toFixed(1), file: deb, debMB: +(statSync(file).size / 1e6).toFixed(1) };
  }
  // The same parts build.sh puts into /usr/lib/etcd-agent, measured in place.
  const parts: Record<string, number> = {};
  const tmpNode = join(tmpdir(), `footprint-node-${process.pid}`);
  spawnSync('cp', [process.execPath, tmpNode]);
  spawnSync('strip', ['--strip-unneeded', tmpNode]);
  parts['node (stripped copy of this machine’s)'] = existsSync(tmpNode) ? statSync(tmpNode).size : 0;
  spawnSync('rm', ['-f', tmpNode]);
  // The bundle (everything but sd-notify) and the modules it leaves out, as build.sh ships them.
  parts['dist/bundle/'] = du(join(REPO, 'dist', 'bundle'));
  const closure = spawnSync(process.execPath, [join(REPO, 'scripts', 'runtime-modules.mjs'), REPO], { encoding: 'utf8' });
  if (closure.status !== 0) throw new Error(`scripts/runtime-modules.mjs failed: ${closure.stderr}`);
  const dirs = closure.stdout.split('\n').filter((d) => d.startsWith('node_modules/'));
  parts['node_modules outside the bundle (pruned as build.sh prunes)'] = dirs.reduce((sum, d) => sum + prunedSize(join(REPO, d)), 0);
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return { source: 'estimate', installedMB: +(total / 1e6).toFixed(1), parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, +(v / 1e6).toFixed(1)])) };
}

export async function footprint(options: { runs: number; loadSeconds: number }): Promise<FootprintResult> {
  const load0 = loadavg()[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'ea-footprint-'));
  const formed = await initNode(dir, 0, 1);
  try {
    const starts: number[] = [];
    for (let i = 1; i <= options.runs; i++) starts.push(await startToListening(dir, i));
    // A formed single-member cluster for the status API.
    startNode(formed);
    const base = `http://${formed.address}:${STATUS_PORT}`;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const s = await getJson(`${base}/status`).catch(() => undefined);
      const body = s?.body as { phase?: string; ready?: boolean } | undefined;
      if (body?.phase === 'formed' && body.ready === true) break;
      if (Date.now() > deadline) throw new Error(`the single-member cluster did not form within 90 s (${JSON.stringify(body)})`);
      await sleep(250);
    }
    const loads = [await load(base, '/readyz', options.loadSeconds), await load(base, '/status', options.loadSeconds)];
    await stopNode(formed);
    const restarts: number[] = [];
    for (let i = 1; i <= options.runs; i++) restarts.push(await timeToListening(formed));
    return {
      startToListeningMs: starts,
      startToListeningMedianMs: median(starts),
      restartToListeningMs: restarts,
      restartToListeningMedianMs: median(restarts),
      load: loads,
      package: packageSize(),
      loadAverage: [load0, loadavg()[0]!],
    };
  } finally {
    await stopNode(formed);
    await rm(dir, { recursive: true, force: true });
  }
}

export function footprintMarkdown(f: FootprintResult): string[] {
  const lines: string[] = [];
  lines.push(`Footprint on loopback (load average ${f.loadAverage[0].toFixed(2)} → ${f.loadAverage[1].toFixed(2)}):`);
  lines.push('');
  lines.push('| measure | result | goal |');
  lines.push('|---|---|---|');
  lines.push(`| agent start to both APIs listening, fresh node (median of ${f.startToListeningMs.length}) | ${f.startToListeningMedianMs} ms (${f.startToListeningMs.join(', ')}) | ≤ 250 ms |`);
  lines.push(`| the same, a formed node restarted (median of ${f.restartToListeningMs.length}) | ${f.restartToListeningMedianMs} ms (${f.restartToListeningMs.join(', ')}) | ≤ 250 ms |`);
  for (const l of f.load) {
    lines.push(`| \`${l.path}\`, ${l.connections} connections, ${l.seconds} s | ${l.requestsPerSecond} req/s, p99 ${l.p99Ms} ms (p50 ${l.p50Ms} ms, non-2xx ${l.non2xx}, errors ${l.errors}) | ≥ 10k req/s, p99 ≤ 5 ms |`);
  }
  const p = f.package;
  const what = p.source === 'deb' ? `${p.file}: ${p.installedMB} MB installed (${p.debMB} MB .deb)` : `${p.installedMB} MB estimated, no .deb built (${Object.entries(p.parts ?? {}).map(([k, v]) => `${k} ${v} MB`).join(', ')})`;
  lines.push(`| installed package size | ${what} | ≤ 90 MB |`);
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: args } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'load-seconds': { type: 'string', default: '5' },
      json: { type: 'string' },
    },
  });
  footprint({ runs: Number(args.runs), loadSeconds: Number(args['load-seconds']) })
    .then((f) => {
      process.stdout.write(`${footprintMarkdown(f).join('\n')}\n`);
      if (args.json) writeFileSync(args.json, JSON.stringify(f, null, 2));
    })
    .catch((err: unknown) => {
      process.stderr.write(`footprint bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
}
