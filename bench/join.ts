/**
 * Time for a joiner from agent start to voter (issue 10, figures): on
 * network-namespace hosts (test/helpers/netns.ts), hosts 1-3 form a cluster
 * (size 3, mDNS only), `etcd-agent cluster resize 4` runs on host 1, then the
 * fourth agent starts. The clock starts when its `etcd-agent run` process has
 * been started and stops when `etcdctl member list` on host 1 shows it as a
 * started voter. Also reported: when it first appeared as a learner, when its
 * learner had started, and what its own log says about the steps in between
 * (first answer, admitted, enrolled, etcd started, its member runs).
 *
 * Each run forms a new cluster on a new bed, so runs do not share state.
 *
 * Run (root; from the repository, after `npm run build`):
 *   npm run bench:join -- [--runs 3] [--json FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { generateToken } from '../src/pki/index.js';
import { CLI } from '../test/helpers/agents.js';
import { NetnsAgents } from '../test/helpers/netns-agents.js';
import { TestBed, netnsUnavailable } from '../test/helpers/netns.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, json: { type: 'string' } } });
const RUNS = Number(args.runs);
const POLL_MS = 200;
const TIMEOUT_MS = 120_000;

interface Run {
  /** ms from the joiner's start. */
  learnerListed: number;
  learnerStarted: number;
  voter: number;
  /** Milestones from the joiner's own log, ms from its start. */
  steps: Record<string, number>;
}

const STEPS: [string, RegExp][] = [
  ['agent started', /"msg":"agent started"/],
  ['first answer', /"phase":"(joining|spare)"/],
  ['admitted', /"msg":"admitted as a learner"/],
  ['enrolled', /"msg":"enrolled as a joiner/],
  ['etcd started', /"msg":"etcd started"/],
  ['member runs', /"msg":"joined: this node's member runs"/],
];

async function oneRun(n: number): Promise<Run> {
  const bed = await TestBed.create({ hosts: 4 });
  const agents = new NetnsAgents(bed);
  try {
    const token = generateToken();
    for (const i of [1, 2, 3, 4]) await agents.init(i, { cluster: `join${n}`, size: 3, token, logLevel: 'info' });
    for (const i of [1, 2, 3]) agents.start(i);
    await agents.waitFormed([1, 2, 3], TIMEOUT_MS);
    const r = await bed.exec(1, [process.execPath, CLI, 'cluster', 'resize', '4', '--config', agents.configPath(1)]);
    if (r.code !== 0) throw new Error(`cluster resize 4: ${r.output}`);
    // Let the members read the new size and settle into their steady loop.
    await new Promise((res) => setTimeout(res, 3000));

    const started = Date.now();
    agents.start(4);
    const run: Run = { learnerListed: -1, learnerStarted: -1, voter: -1, steps: {} };
    while (Date.now() - started < TIMEOUT_MS) {
      const list = await agents.etcdctl(1, ['member', 'list']);
      const line = list.stdout.split('\n').find((l) => l.includes(bed.host(4).address));
      if (line) {
        const elapsed = Date.now() - started;
        const [, status, , , , learner] = line.split(', ');
        if (run.learnerListed < 0) run.learnerListed = elapsed;
        if (status === 'started' && run.learnerStarted < 0) run.learnerStarted = elapsed;
        if (learner?.trim() === 'false' && status === 'started') {
          run.voter = elapsed;
          break;
        }
      }
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
    if (run.voter < 0) throw new Error(`h4 not a voter within ${TIMEOUT_MS} ms:\n${await agents.describe([1, 4])}`);
    for (const l of agents.log(4).split('\n')) {
      for (const [name, re] of STEPS) {
        if (run.steps[name] !== undefined || !re.test(l)) continue;
        const time = /"time":"([^"]+)"/.exec(l)?.[1];
        if (time) run.steps[name] = Date.parse(time) - started;
      }
    }
    return run;
  } finally {
    await bed.destroy();
    await agents.cleanup();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const why = netnsUnavailable();
  if (why) throw new Error(why);
  const load0 = loadavg()[0]!;
  const runs: Run[] = [];
  for (let n = 1; n <= RUNS; n++) {
    const run = await oneRun(n);
    runs.push(run);
    process.stderr.write(`run ${n}: voter after ${run.voter} ms (learner listed ${run.learnerListed} ms, started ${run.learnerStarted} ms)\n`);
  }
  const load1 = loadavg()[0]!;
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const lines = [
    `etcd-agent ${version}, Node ${process.version}, ${RUNS} runs, poll ${POLL_MS} ms; load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}`,
    '',
    '| joiner: agent start to ... | median | runs (ms) |',
    '|---|---|---|',
    ...STEPS.map(([name]) => {
      const xs = runs.map((r) => r.steps[name]).filter((x): x is number => x !== undefined);
      return `| ${name} (its log) | ${xs.length ? `${(median(xs) / 1000).toFixed(2)} s` : '?'} | ${xs.join(', ')} |`;
    }),
    `| learner in the member list | ${(median(runs.map((r) => r.learnerListed)) / 1000).toFixed(2)} s | ${runs.map((r) => r.learnerListed).join(', ')} |`,
    `| learner started | ${(median(runs.map((r) => r.learnerStarted)) / 1000).toFixed(2)} s | ${runs.map((r) => r.learnerStarted).join(', ')} |`,
    `| **voter** | **${(median(runs.map((r) => r.voter)) / 1000).toFixed(2)} s** | ${runs.map((r) => r.voter).join(', ')} |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ version, runs }, null, 2));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
