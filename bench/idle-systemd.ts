// Bench (issue 14): a formed cluster's idle cost on packaged-style hosts, where the agent runs under
// systemd and manages etcd as a systemd unit (the `systemd` service manager), unlike the loopback
// benches (the `process` manager). Three systemd-nspawn hosts (Debian root, etcd-server, the built
// agent as installAgentFiles puts it; bridge 10.234.0.0/24), formed by the agents, then SETTLE_S (60)
// of rest and a WINDOW_S (60) window in which, per host, from the machine's /proc:
//   - the agent's own CPU (utime+stime) and that of the children it waited for (cutime+cstime:
//     `systemctl` calls), and its RSS;
//   - etcd's CPU and RSS (the baseline, same hosts, same window);
//   - the host's PID 1 (systemd), which answers every `systemctl show` of the agent.
// Needs root and systemd-nspawn. Prints a markdown table; JSON with --json FILE.
// Run: npm run build && TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/idle-systemd.ts
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateToken } from '../src/pki/index.js';
import { SystemdTestBed, systemdHostsUnsupported, type SystemdHost } from '../test/helpers/nspawn.js';
import { agentStatus, initAgent } from '../test/helpers/systemd-agents.js';
import { waitFor } from '../test/helpers/wait.js';

const SETTLE_S = Number(process.env.SETTLE_S ?? 60);
const WINDOW_S = Number(process.env.WINDOW_S ?? 60);
const jsonAt = process.argv.indexOf('--json');
const jsonFile = jsonAt >= 0 ? process.argv[jsonAt + 1] : undefined;
const TICK = 100; // USER_HZ
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  cpu: number;
  children: number;
  rssKiB: number;
}

function sample(pid: number): Sample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpu: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]), rssKiB: Number(rss?.[1] ?? 0) };
}

/** The machine's pid of a host's unit's main process (NSpid maps the host's pid namespace to ours). */
async function machinePid(h: SystemdHost, unit: string): Promise<number> {
  const inner = Number((await h.exec(['systemctl', 'show', '-p', 'MainPID', '--value', unit])).stdout.trim());
  if (!(inner > 0)) throw new Error(`${h.name}: ${unit} has no main process`);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ns = /NSpid:\s+([\d\s]+)/.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
      if (ns.length < 2 || ns[ns.length - 1] !== inner) continue;
      // Same inner pid in another host's namespace: check the process descends from this host's init.
      let p = Number(entry);
      for (let hops = 0; hops < 64 && p > 1; hops++) {
        if (p === h.leaderPid) return Number(entry);
        const s = readFileSync(`/proc/${p}/stat`, 'utf8');
        p = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      }
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`${h.name}: no machine pid for ${unit} (inner pid ${inner})`);
}

const why = systemdHostsUnsupported();
if (why) {
  console.error(`idle-systemd: cannot run here: ${why}`);
  process.exit(2);
}

const teardowns: (() => Promise<void> | void)[] = [];
const t = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn), comment: (...a: unknown[]) => console.error(...a) };
try {
  const bed = await SystemdTestBed.create(t, { prefix: 'eaidl', subnet: 234, hosts: 3 });
  await bed.bootAll();
  const token = generateToken();
  for (const h of bed.hosts) await initAgent(h, { cluster: 'idle', size: 3, token, seeds: bed.hosts });
  const startedAt = Date.now();
  await Promise.all(bed.hosts.map((h) => h.exec(['systemctl', 'start', '--no-block', 'etcd-agent'])));
  await waitFor('all three agents formed', async () => {
    const phases = await Promise.all(bed.hosts.map((h) => agentStatus(h).then((s) => s.phase, () => 'no answer')));
    return phases.every((p) => p === 'formed') ? phases : undefined;
  }, { timeoutMs: 240_000, intervalMs: 1000 });
  console.error(`formed ${Date.now() - startedAt} ms after systemctl start; resting ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000);
  const pids = await Promise.all(bed.hosts.map(async (h) => ({ agent: await machinePid(h, 'etcd-agent.service'), etcd: await machinePid(h, 'etcd.service'), init: h.leaderPid })));
  const before = pids.map((p) => ({ agent: sample(p.agent), etcd: sample(p.etcd), init: sample(p.init) }));
  const t0 = Date.now();
  await sleep(WINDOW_S * 1000);
  const after = pids.map((p) => ({ agent: sample(p.agent), etcd: sample(p.etcd), init: sample(p.init) }));
  const seconds = (Date.now() - t0) / 1000;
  const pct = (ticks: number) => Math.round((ticks / TICK / seconds) * 10000) / 100;
  const rows = bed.hosts.map((h, i) => ({
    host: h.name,
    agentCpuPct: pct(after[i]!.agent.cpu - before[i]!.agent.cpu),
    agentChildrenCpuPct: pct(after[i]!.agent.children - before[i]!.agent.children),
    pid1CpuPct: pct(after[i]!.init.cpu - before[i]!.init.cpu),
    etcdCpuPct: pct(after[i]!.etcd.cpu - before[i]!.etcd.cpu),
    agentRssMiB: Math.round((after[i]!.agent.rssKiB / 1024) * 10) / 10,
    etcdRssMiB: Math.round((after[i]!.etcd.rssKiB / 1024) * 10) / 10,
  }));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\nIdle, ${WINDOW_S} s window after ${SETTLE_S} s of rest, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
  console.log('| host | agent CPU | its `systemctl` children | PID 1 (systemd) | etcd CPU | agent RSS | etcd RSS |\n|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.host} | ${r.agentCpuPct} % | ${r.agentChildrenCpuPct} % | ${r.pid1CpuPct} % | ${r.etcdCpuPct} % | ${r.agentRssMiB} MiB | ${r.etcdRssMiB} MiB |`);
  const m = (k: keyof (typeof rows)[number]) => median(rows.map((r) => r[k] as number));
  console.log(`| **median** | ${m('agentCpuPct')} % | ${m('agentChildrenCpuPct')} % | ${m('pid1CpuPct')} % | ${m('etcdCpuPct')} % | ${m('agentRssMiB')} MiB | ${m('etcdRssMiB')} MiB |`);
  console.log(`\nagent / etcd CPU: ${(m('agentCpuPct') / m('etcdCpuPct')).toFixed(2)}×; agent + children + PID 1 / etcd: ${((m('agentCpuPct') + m('agentChildrenCpuPct') + m('pid1CpuPct')) / m('etcdCpuPct')).toFixed(2)}×`);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ settleS: SETTLE_S, windowS: WINDOW_S, rows }, null, 2));
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
