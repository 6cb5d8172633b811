// Experiment: idle RSS/CPU of formed agents under different V8/glibc env, rotated over the same 3 nodes.
import { readFileSync } from 'node:fs';
import { generateToken } from '../src/pki/index.js';
import { NodeSet } from '../test/helpers/agents.js';

// Three variants (one per node, rotated each round); VARIANTS='{"name":{"VAR":"value"},...}' replaces
// these. The first one also forms the cluster.
const variants: Record<string, NodeJS.ProcessEnv> = process.env.VARIANTS
  ? (JSON.parse(process.env.VARIANTS) as Record<string, NodeJS.ProcessEnv>)
  : {
      base: { MALLOC_ARENA_MAX: '2' },
      semi2: { MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=2' },
      semi1: { MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=1' },
    };
if (Object.keys(variants).length !== 3) throw new Error('env-variants: exactly three variants, one per node');
const names = Object.keys(variants);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function sample(pid: number): { ticks: number; rssKiB: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))!;
  return { ticks: Number(f[11]) + Number(f[12]), rssKiB: Number(rss[1]) };
}
const set = new NodeSet({ subnet: 151, count: 3, token: generateToken(), cluster: 'semi' });
const out: Record<string, { rss: number[]; cpu: number[] }> = Object.fromEntries(names.map((n) => [n, { rss: [], cpu: [] }]));
try {
  await set.init();
  for (const n of set.nodes) set.start(n, { env: Object.values(variants)[0]! });
  await set.waitFormed(set.nodes, 120_000);
  const rounds = Number(process.env.ROUNDS ?? 3);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < 3; i++) {
      const n = set.nodes[i]!;
      await set.stop(n);
      set.start(n, { env: variants[names[(i + round) % 3]!] });
    }
    await set.waitFormed(set.nodes, 120_000);
    await sleep(Number(process.env.SETTLE_S ?? 60) * 1000);
    const a = set.nodes.map((n) => sample(n.proc!.pid!));
    await sleep(30_000);
    const b = set.nodes.map((n) => sample(n.proc!.pid!));
    for (let i = 0; i < 3; i++) {
      const v = names[(i + round) % 3]!;
      out[v]!.rss.push(Math.round(b[i]!.rssKiB / 102.4) / 10);
      out[v]!.cpu.push(Math.round(((b[i]!.ticks - a[i]!.ticks) / 100 / 30) * 10000) / 100);
    }
    console.log(`round ${round}`, JSON.stringify(out));
  }
} finally {
  await set.cleanup();
}
