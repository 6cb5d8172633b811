/**
 * Dead-member replacement time (issue 10): a cluster of three with one spare
 * waiting loses a host for good; timed from the host's death (its agent and
 * its etcd killed with SIGKILL) until the cluster is healthy at full size
 * again — the dead member removed, the spare added as a learner and promoted,
 * three voters, no learner, every member healthy (`etcdctl endpoint health
 * --cluster` from a survivor). Split into death → removal (deadAfter plus
 * the time to notice) and removal → promoted.
 *
 * Agents run as real processes on loopback (test/helpers/agents.ts, the
 * `process` service manager, 127.0.67.0/24); polled every 200 ms. The victim
 * is never the CA holder (the spare enrolls with it) nor the raft leader.
 *
 * Run (root not needed; from the repository, after `npm run build`):
 *   npm run bench:replacement -- [--dead-after 10s,60s] [--runs 1] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { generateToken } from '../src/pki/index.js';
import { parseDuration } from '../src/util/duration.js';
import { NodeSet } from '../test/helpers/agents.js';
import { members } from '../test/helpers/cluster-checks.js';
import { waitFor } from '../test/helpers/wait.js';

const { values: args } = parseArgs({
  options: {
    'dead-after': { type: 'string', default: '10s,60s' },
    runs: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const DEAD_AFTERS = args['dead-after'].split(',').map((d) => ({ text: d, ms: parseDuration(d) ?? Number.NaN }));
const RUNS = Number(args.runs);
const POLL_MS = 200;

interface Run {
  deadAfter: string;
  deathToRemovalMs: number;
  removalToPromotedMs: number;
  deathToHealthyMs: number;
  loadavg: number;
}

async function once(deadAfter: string, deadAfterMs: number): Promise<Run> {
  const token = generateToken();
  const set = new NodeSet({ subnet: 67, count: 3, token, cluster: 'bench' });
  try {
    await set.init();
    const spare = await set.addNode(4, set.nodes.slice(0, 3), token);
    for (const n of set.nodes) await appendFile(n.configPath, `membership:\n  deadAfter: ${deadAfter}\n`);
    const initial = set.nodes.slice(0, 3);
    for (const n of initial) set.start(n);
    await set.waitFormed(initial, 180_000);
    set.start(spare);
    await waitFor('the fourth agent waits as a spare', async () => (await set.status(spare)).phase === 'spare', { timeoutMs: 120_000, intervalMs: 500, describe: () => set.describe([spare]) });

    const s1 = await set.status(initial[0]!);
    const victim = initial.find((n) => n.name !== s1.caHolder?.name && n.name !== s1.leader?.name)!;
    const survivor = initial.find((n) => n !== victim)!;
    const victimId = members(set, survivor)!.members.find((m) => m.name === victim.name)!.id;

    const died = Date.now();
    victim.proc?.kill('SIGKILL');
    set.killEtcd(victim);
    let removedAt = 0;
    let promotedAt = 0;
    await waitFor('three healthy voters with the spare promoted', () => {
      const l = members(set, survivor);
      if (!l) return undefined;
      if (!removedAt && !l.members.some((m) => m.id === victimId)) removedAt = Date.now();
      const voters = l.members.filter((m) => !m.isLearner);
      if (!promotedAt && voters.some((m) => m.name === spare.name)) promotedAt = Date.now();
      if (voters.length !== 3 || l.members.length !== 3 || !promotedAt || !removedAt) return undefined;
      const health = set.etcdctl(survivor, ['endpoint', 'health', '--cluster']);
      return (`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length === 3 ? true : undefined;
    }, { timeoutMs: deadAfterMs + 180_000, intervalMs: POLL_MS, describe: () => set.describe([survivor, spare]) });
    const healthyAt = Date.now();
    return {
      deadAfter,
      deathToRemovalMs: removedAt - died,
      removalToPromotedMs: promotedAt - removedAt,
      deathToHealthyMs: healthyAt - died,
      loadavg: Number(loadavg()[0]!.toFixed(1)),
    };
  } finally {
    await set.cleanup();
  }
}

const results: Run[] = [];
for (const { text, ms } of DEAD_AFTERS) {
  if (!Number.isFinite(ms)) throw new Error(`--dead-after ${text}: not a duration`);
  for (let i = 0; i < RUNS; i++) {
    const r = await once(text, ms);
    results.push(r);
    console.log(
      `deadAfter ${text}: death → removal ${r.deathToRemovalMs} ms, removal → spare promoted ${r.removalToPromotedMs} ms, ` +
        `death → healthy 3 of 3 ${r.deathToHealthyMs} ms (goal: deadAfter + 30 s = ${ms + 30_000} ms; load ${r.loadavg})`,
    );
  }
}
if (args.json) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
