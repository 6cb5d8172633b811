// Experiment: idle CPU of formed agents, two builds side by side on one loopback cluster (127.0.157.0/24).
// A = BASE_CLI (default .bench-base/bin/etcd-agent.js: copy an earlier build's dist/, bin/ and package.json
// into .bench-base/ of this checkout, so it resolves this node_modules), B = B_CLI (default bin/etcd-agent.js).
// Round r runs build (i + r) % 2 on node i, so each node runs each build; CPU (utime+stime) and the main
// thread's voluntary context switches over WINDOW_S (30), SETTLE_S (60) after formation; ROUNDS (2).
// Run: TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/idle-ab.ts
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateToken } from '../src/pki/index.js';
import { CLI, NodeSet, type TestNode } from '../test/helpers/agents.js';
import { REPO } from '../test/helpers/fixtures.js';

const builds: Record<string, string> = { A: process.env.BASE_CLI ?? join(REPO, '.bench-base', 'bin', 'etcd-agent.js'), B: process.env.B_CLI ?? CLI };
const names = ['A', 'B'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function sample(pid: number): { ticks: number; vcs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const vcs = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))!;
  return { ticks: Number(f[11]) + Number(f[12]), vcs: Number(vcs[1]) };
}
// PROFILE_DIR: the first node runs with --cpu-prof into it (written when it stops).
const profileDir = process.env.PROFILE_DIR;
function start(n: TestNode, cli: string): void {
  const log = createWriteStream(n.logFile, { flags: 'a' });
  const prof = profileDir && n.name === 'n1' ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const proc = spawn(process.execPath, [...prof, cli, 'run', '--config', n.configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NOTIFY_SOCKET: '', MALLOC_ARENA_MAX: '2' },
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  n.proc = proc;
}
const window = Number(process.env.WINDOW_S ?? 30);
const set = new NodeSet({ subnet: 157, count: 3, token: generateToken(), cluster: 'idleab' });
const out: Record<string, { cpu: number[]; wakeups: number[] }> = Object.fromEntries(names.map((n) => [n, { cpu: [], wakeups: [] }]));
try {
  await set.init((n) => ['--log-level', 'info']);
  const spawnedAt = Date.now();
  for (let i = 0; i < 3; i++) start(set.nodes[i]!, builds[names[i % 2]!]!);
  await set.waitFormed(set.nodes, 120_000);
  console.log(`formed ${Date.now() - spawnedAt} ms after the spawn`);
  const rounds = Number(process.env.ROUNDS ?? 2);
  for (let round = 0; round < rounds; round++) {
    if (round > 0) {
      for (let i = 0; i < 3; i++) {
        await set.stop(set.nodes[i]!);
        start(set.nodes[i]!, builds[names[(i + round) % 2]!]!);
      }
      await set.waitFormed(set.nodes, 120_000);
    }
    await sleep(Number(process.env.SETTLE_S ?? 60) * 1000);
    const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const a = set.nodes.map((n) => sample(n.proc!.pid!));
    await sleep(window * 1000);
    const b = set.nodes.map((n) => sample(n.proc!.pid!));
    const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    for (let i = 0; i < 3; i++) {
      const v = names[(i + round) % 2]!;
      out[v]!.cpu.push(Math.round(((b[i]!.ticks - a[i]!.ticks) / 100 / window) * 10000) / 100);
      out[v]!.wakeups.push(Math.round((b[i]!.vcs - a[i]!.vcs) / window));
    }
    console.log(`round ${round} load ${load0} → ${load1}`, set.nodes.map((n, i) => `${n.name}=${names[(i + round) % 2]}`).join(' '), JSON.stringify(out));
  }
} finally {
  // A clean stop: --cpu-prof writes its profile at exit.
  for (const n of set.nodes) await set.stop(n);
  await set.cleanup();
}
