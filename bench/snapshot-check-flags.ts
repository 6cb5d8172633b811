// Experiment (issue 14): what V8 flags that save idle memory (--jitless, --lite-mode) cost the one
// CPU-heavy JavaScript the agent runs, the snapshot check (src/etcd/bbolt.ts: bbolt's page walk and a
// CRC-32C over every key and value). A real etcd on loopback (127.0.158.1, plain HTTP, its own temp
// dir) is filled with SIZE_MB (256) of 64 KiB values, `etcdctl snapshot save` writes the file, then each
// variant checks it in a fresh node process, ROUNDS (3) times, interleaved. Prints a markdown table.
// Run: npm run build && TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/snapshot-check-flags.ts
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../test/helpers/fixtures.js';

const SIZE_MB = Number(process.env.SIZE_MB ?? 256);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ADDR = '127.0.158.1';
const CLIENT = `http://${ADDR}:2379`;
const VARIANTS: { name: string; flags: string[] }[] = [
  { name: 'default', flags: [] },
  { name: '--jitless', flags: ['--jitless'] },
  { name: '--lite-mode', flags: ['--lite-mode'] },
];
const bbolt = join(REPO, 'dist', 'etcd', 'bbolt.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function etcdctl(args: string[], timeoutMs = 120_000): string {
  const r = spawnSync('etcdctl', ['--endpoints', CLIENT, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** One check of `file` in a fresh node with `flags`: wall time of inspectBolt and the longest event-loop stall. */
function check(file: string, flags: string[]): Promise<{ ms: number; maxStallMs: number; keys: number }> {
  const script = `
    const { inspectBolt } = await import(${JSON.stringify(bbolt)});
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const h = monitorEventLoopDelay({ resolution: 10 }); h.enable();
    const t0 = performance.now();
    const s = await inspectBolt(${JSON.stringify(file)});
    const ms = performance.now() - t0; h.disable();
    console.log(JSON.stringify({ ms, maxStallMs: h.max / 1e6, keys: s.totalKey }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as { ms: number; maxStallMs: number; keys: number });
      else reject(new Error(`check with ${flags.join(' ') || 'no flags'} exited ${code}`));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'ea-bench-bbolt-'));
let etcd: ChildProcess | undefined;
try {
  etcd = spawn('etcd', [
    '--name', 'b', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', CLIENT, '--advertise-client-urls', CLIENT,
    '--listen-peer-urls', `http://${ADDR}:2380`, '--initial-advertise-peer-urls', `http://${ADDR}:2380`,
    '--initial-cluster', `b=http://${ADDR}:2380`, '--quota-backend-bytes', String(8 * 1024 ** 3),
  ], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      etcdctl(['endpoint', 'health'], 5000);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
  // 64 KiB values, 16 per transaction-less batch of etcdctl: 1 MiB per call keeps the fill quick.
  const value = 'x'.repeat(64 * 1024);
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: CLIENT });
  const puts = SIZE_MB * 16;
  for (let i = 0; i < puts; i += 64) {
    await Promise.all(Array.from({ length: Math.min(64, puts - i) }, (_, j) => client.put(`/bench/k${i + j}`).value(value)));
  }
  client.close();
  const file = join(dir, 'snap.db');
  etcdctl(['snapshot', 'save', file], 600_000);
  const mb = statSync(file).size / 1024 ** 2;
  console.log(`snapshot: ${mb.toFixed(0)} MiB, ${puts} keys of 64 KiB`);
  const results: Record<string, { ms: number[]; stall: number[] }> = Object.fromEntries(VARIANTS.map((v) => [v.name, { ms: [], stall: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      const r = await check(file, v.flags);
      results[v.name]!.ms.push(r.ms);
      results[v.name]!.stall.push(r.maxStallMs);
      console.log(`round ${round + 1} ${v.name}: ${r.ms.toFixed(0)} ms, longest stall ${r.maxStallMs.toFixed(1)} ms, ${r.keys} keys`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(results.default!.ms);
  console.log(`\n| variant | check of ${mb.toFixed(0)} MiB (median of ${ROUNDS}) | MiB/s | vs default | longest event-loop stall |\n|---|---|---|---|---|`);
  for (const v of VARIANTS) {
    const m = median(results[v.name]!.ms);
    console.log(`| ${v.name} | ${(m / 1000).toFixed(2)} s | ${(mb / (m / 1000)).toFixed(0)} | ${(m / base).toFixed(1)}× | ${median(results[v.name]!.stall).toFixed(0)} ms |`);
  }
} finally {
  etcd?.kill('SIGKILL');
  await sleep(200);
  rmSync(dir, { recursive: true, force: true });
}
