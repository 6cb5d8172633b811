/**
 * Formation time of etcd-agent vs bare etcd, on the same network-namespace
 * hosts (test/helpers/netns.ts), side by side in one run.
 *
 *   agent:  N fresh agents, mDNS only (no seeds), each on its own host. Timed
 *           from "all N agents started" to "`etcdctl endpoint health
 *           --cluster` reports N healthy endpoints over TLS with the client
 *           certificate the cluster issued". Includes discovery, election,
 *           key generation, CA, enrollment, etcd start and etcd's own bootstrap.
 *   bare:   etcd on the same hosts with certificates made beforehand (openssl,
 *           not timed) and a static ETCD_INITIAL_CLUSTER. Timed from "all N
 *           etcd started" to the same health check.
 *
 * Both are polled the same way (every 200 ms, etcdctl from host 1). After the
 * first agent run of each size, the agents' idle cost is measured over a
 * window that starts --settle-seconds (60) after every node is formed: RSS
 * (VmRSS) and CPU% (utime+stime from /proc/<pid>/stat).
 *
 * Run (root; from the repository, after `npm run build`):
 *   TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/formation.ts [--sizes 3,5] [--runs 3] [--idle-seconds 10] [--settle-seconds 60]
 *     [--footprint-runs 5] [--load-seconds 5] [--json FILE]
 *
 * Then bench/footprint.ts adds the loopback rows: agent start to both APIs
 * listening, /readyz and /status under 50 connections, installed package size.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateToken } from '../src/pki/index.js';
import { shippedAgentEnvironment } from './unit-env.js';
import { footprint, footprintMarkdown, type FootprintResult } from './footprint.js';
import { NetnsAgents } from '../test/helpers/netns-agents.js';
import { REPO, type ExecResult } from '../test/helpers/fixtures.js';
import { TestBed, netnsUnavailable } from '../test/helpers/netns.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,5' },
    runs: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '10' },
    /** How long after every node is formed the idle window starts: the formation's garbage and the first health rounds are not idle. */
    'settle-seconds': { type: 'string', default: '60' },
    json: { type: 'string' },
    'footprint-runs': { type: 'string', default: '5' },
    'load-seconds': { type: 'string', default: '5' },
  },
});
const SIZES = args.sizes.split(',').map(Number);
const RUNS = Number(args.runs);
const IDLE_S = Number(args['idle-seconds']);
const SETTLE_S = Number(args['settle-seconds']);
const POLL_MS = 200;
const FORM_TIMEOUT_MS = 120_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Idle {
  rssMiB: number[];
  cpuPercent: number[];
  etcdRssMiB: number[];
  etcdCpuPercent: number[];
}

function healthyCount(r: ExecResult): number {
  return (`${r.stdout}${r.stderr}`.match(/is healthy/g) ?? []).length;
}

async function pollHealthy(check: () => Promise<ExecResult | undefined>, n: number, started: number): Promise<number> {
  while (Date.now() - started < FORM_TIMEOUT_MS) {
    const r = await check();
    if (r && r.code === 0 && healthyCount(r) === n) return Date.now() - started;
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  throw new Error(`not healthy within ${FORM_TIMEOUT_MS} ms`);
}

/** utime+stime in clock ticks and VmRSS in KiB of a live process. */
function sample(pid: number): { ticks: number; rssKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state is fields[0], so utime (field 14) is fields[11], stime fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { ticks, rssKiB: Number(rss?.[1] ?? 0) };
}

async function idleCost(pids: number[], seconds: number): Promise<{ rssMiB: number[]; cpuPercent: number[] }> {
  const before = pids.map(sample);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = pids.map(sample);
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    rssMiB: after.map((a) => a.rssKiB / 1024),
    cpuPercent: after.map((a, k) => ((a.ticks - before[k]!.ticks) / CLK_TCK / elapsedS) * 100),
  };
}

async function agentRun(size: number, measureIdle: boolean): Promise<{ ms: number; idle?: Idle }> {
  const bed = await TestBed.create({ hosts: size });
  const agents = new NetnsAgents(bed);
  try {
    const hosts = bed.hosts.map((h) => h.index);
    const token = generateToken();
    for (const i of hosts) await agents.init(i, { cluster: 'bench', size, token, logLevel: 'info' });
    const started = Date.now();
    for (const i of hosts) agents.start(i, shippedAgentEnvironment());
    const ms = await pollHealthy(
      async () => (existsSync(agents.pki(1, 'etcdctl.key')) ? agents.etcdctl(1, ['endpoint', 'health', '--cluster']) : undefined),
      size,
      started,
    );
    if (!measureIdle) return { ms };
    // Let the agents finish flipping to `existing` and settle into their steady loop.
    await agents.waitFormed(hosts, 60_000);
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const agentPids = hosts.map((i) => agents.proc(i)!.pid!);
    for (const pid of agentPids) {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm !== 'node') throw new Error(`pid ${pid} is ${comm}, not the agent's node process`);
    }
    const etcdPids = hosts.map((i) => Number(readFileSync(join(agents.root(i), 'var', 'lib', 'etcd-agent', 'etcd.pid'), 'utf8').trim()));
    const [a, e] = await Promise.all([idleCost(agentPids, IDLE_S), idleCost(etcdPids, IDLE_S)]);
    return { ms, idle: { rssMiB: a.rssMiB, cpuPercent: a.cpuPercent, etcdRssMiB: e.rssMiB, etcdCpuPercent: e.cpuPercent } };
  } finally {
    await bed.destroy();
    await agents.cleanup();
  }
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** CA, one server+peer certificate per host (SANs as the agent issues them) and a client certificate. */
async function makeCerts(dir: string, bed: TestBed): Promise<void> {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bench-ca'], dir);
  for (const h of bed.hosts) {
    const ext = `h${h.index}.ext`;
    await writeFile(
      join(dir, ext),
      `subjectAltName=IP:${h.address},IP:127.0.0.1,DNS:${h.hostname},DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`,
    );
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `h${h.index}.key`, '-out', `h${h.index}.csr`, '-subj', `/CN=${h.hostname}`], dir);
    openssl(['x509', '-req', '-in', `h${h.index}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `h${h.index}.crt`, '-days', '2', '-extfile', ext], dir);
  }
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=root'], dir);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext'], dir);
}

async function bareRun(size: number): Promise<number> {
  const bed = await TestBed.create({ hosts: size });
  const dir = await mkdtemp(join(tmpdir(), `${bed.id}-bare-`));
  try {
    await makeCerts(dir, bed);
    const initialCluster = bed.hosts.map((h) => `${h.hostname}=https://${h.address}:2380`).join(',');
    const started = Date.now();
    for (const h of bed.hosts) {
      const data = join(dir, `data-h${h.index}`);
      await mkdir(data, { mode: 0o700 });
      const cert = join(dir, `h${h.index}.crt`);
      const key = join(dir, `h${h.index}.key`);
      const ca = join(dir, 'ca.crt');
      bed.spawn(
        h.index,
        [
          'etcd',
          `--name=${h.hostname}`,
          `--data-dir=${data}`,
          `--listen-client-urls=https://${h.address}:2379,https://127.0.0.1:2379`,
          `--advertise-client-urls=https://${h.address}:2379`,
          `--listen-peer-urls=https://${h.address}:2380`,
          `--initial-advertise-peer-urls=https://${h.address}:2380`,
          `--initial-cluster=${initialCluster}`,
          '--initial-cluster-token=bench',
          '--initial-cluster-state=new',
          `--cert-file=${cert}`, `--key-file=${key}`, `--trusted-ca-file=${ca}`, '--client-cert-auth',
          `--peer-cert-file=${cert}`, `--peer-key-file=${key}`, `--peer-trusted-ca-file=${ca}`, '--peer-client-cert-auth',
        ],
        { logFile: join(dir, `etcd-h${h.index}.log`) },
      );
    }
    const h1 = bed.host(1);
    return await pollHealthy(
      () =>
        bed.exec(1, [
          'etcdctl', `--endpoints=https://${h1.address}:2379`, '--dial-timeout=3s', '--command-timeout=5s',
          `--cacert=${join(dir, 'ca.crt')}`, `--cert=${join(dir, 'client.crt')}`, `--key=${join(dir, 'client.key')}`,
          'endpoint', 'health', '--cluster',
        ], { env: { ETCDCTL_API: '3' }, timeoutMs: 20_000 }),
      size,
      started,
    );
  } finally {
    await bed.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f1 = (x: number): string => x.toFixed(1);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const why = netnsUnavailable();
  if (why) throw new Error(why);
  const etcdVersion = spawnSync('etcd', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const agentVersion = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
  const load0 = loadavg()[0]!;
  const results: { size: number; agent: number[]; bare: number[]; idle?: Idle }[] = [];
  for (const size of SIZES) {
    const r: (typeof results)[number] = { size, agent: [], bare: [] };
    for (let run = 1; run <= RUNS; run++) {
      // Interleaved, so both see the same machine load.
      const a = await agentRun(size, run === 1);
      r.agent.push(a.ms);
      if (a.idle) r.idle = a.idle;
      const b = await bareRun(size);
      r.bare.push(b);
      process.stderr.write(`size ${size} run ${run}: agent ${a.ms} ms, bare etcd ${b} ms\n`);
    }
    results.push(r);
  }
  // The loopback rows (start-up, status API under load, package size): after the netns runs, so they see the same load.
  const fp: FootprintResult = await footprint({ runs: Number(args['footprint-runs']), loadSeconds: Number(args['load-seconds']) });
  const load1 = loadavg()[0]!;
  const lines: string[] = [];
  lines.push(`etcd-agent ${agentVersion}, ${etcdVersion}, Node ${process.version}, ${RUNS} runs per size, poll ${POLL_MS} ms; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}`);
  lines.push('');
  lines.push('| hosts | etcd-agent, mDNS only (median) | bare etcd, pre-made certs + static cluster (median) | ratio | agent runs (ms) | bare runs (ms) |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of results) {
    const a = median(r.agent);
    const b = median(r.bare);
    lines.push(`| ${r.size} | ${(a / 1000).toFixed(2)} s | ${(b / 1000).toFixed(2)} s | ${(a / b).toFixed(1)}× | ${r.agent.join(', ')} | ${r.bare.join(', ')} |`);
  }
  lines.push('');
  lines.push(`Idle after formation, per process, ${SETTLE_S} s after every node was formed, over ${IDLE_S} s (mean, max across nodes):`);
  lines.push('');
  lines.push('| hosts | agent RSS | agent CPU | etcd RSS (for scale) | etcd CPU |');
  lines.push('|---|---|---|---|---|');
  for (const r of results) {
    const i = r.idle;
    if (!i) continue;
    lines.push(
      `| ${r.size} | ${f1(mean(i.rssMiB))} MiB (max ${f1(Math.max(...i.rssMiB))}) | ${i.cpuPercent.length ? mean(i.cpuPercent).toFixed(2) : '?'} % (max ${Math.max(...i.cpuPercent).toFixed(2)}) | ${f1(mean(i.etcdRssMiB))} MiB | ${mean(i.etcdCpuPercent).toFixed(2)} % |`,
    );
  }
  lines.push('');
  lines.push(...footprintMarkdown(fp));
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ agentVersion, etcdVersion, runs: RUNS, idleSeconds: IDLE_S, settleSeconds: SETTLE_S, results, footprint: fp }, null, 2));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
