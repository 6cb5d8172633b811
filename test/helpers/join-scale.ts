/**
 * Issue 10 #1 on network-namespace hosts (real etcd, real agents, mDNS):
 * scale 3 -> 5, in one of two variants. `grow`: `etcd-agent cluster resize 5`
 * on a member, then two fresh agents start. `spares`: they start first and
 * wait as spares, then the resize. Either way each joins as a learner and is
 * promoted (the ops log says so, in order), the cluster ends with 5 voters and
 * no learner, one cluster id everywhere, and a client writing through the
 * initial members the whole time loses no write.
 *
 * test/e2e/join-scale.test.ts runs `grow` in the default suite;
 * test/long/join-scale-spares.test.ts runs `spares` (npm run test:long).
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { generateToken } from '../../src/pki/index.js';
import type { StatusReport } from '../../src/agent/status/model.js';
import { CLI } from './agents.js';
import { TestBed, skipUnlessRoot } from './netns.js';
import { NetnsAgents } from './netns-agents.js';
import { waitFor } from './wait.js';
import { startWriter, type WriterReport } from './writer.js';


interface Listed {
  name: string;
  learner: boolean;
}

/** Registers one variant as this test file's test (skipped loudly without root). */
export async function joinScale(which: 'grow' | 'spares'): Promise<void> {
  t.setTimeout(600_000);
  if (!skipUnlessRoot(t, `scale 3 -> 5 by joining (${which})`)) return;
  const bed = await TestBed.create({ hosts: 5 });
  const runs: NetnsAgents[] = [];
  t.teardown(async () => {
    await bed.destroy();
    for (const a of runs) await a.cleanup();
  });

  const members = async (agents: NetnsAgents): Promise<Listed[]> => {
    const r = await agents.etcdctl(1, ['member', 'list', '-w', 'json']);
    if (r.code !== 0) throw new Error(`member list: ${r.stderr}`);
    const parsed = JSON.parse(r.stdout) as { members: { name?: string; isLearner?: boolean }[] };
    return parsed.members.map((m) => ({ name: m.name ?? '', learner: Boolean(m.isLearner) }));
  };

  const resize = async (agents: NetnsAgents, n: number): Promise<void> => {
    const r = await bed.exec(1, [process.execPath, CLI, 'cluster', 'resize', String(n), '--config', agents.configPath(1)]);
    if (r.code !== 0) throw new Error(`cluster resize ${n} failed (${r.code}): ${r.output}`);
  };

  /** Forms a 3-member cluster on hosts 1-3 and starts the writer through them. */
  const formThree = async (cluster: string): Promise<{ agents: NetnsAgents; token: string; writer: { stop(): Promise<WriterReport> } }> => {
    const agents = new NetnsAgents(bed);
    runs.push(agents);
    const token = generateToken();
    for (const i of [1, 2, 3, 4, 5]) await agents.init(i, { cluster, size: 3, token });
    for (const i of [1, 2, 3]) agents.start(i);
    await agents.waitFormed([1, 2, 3], 120_000);
    const tls = { caPem: readFileSync(agents.pki(1, 'ca.crt'), 'utf8'), certPem: readFileSync(agents.pki(1, 'etcdctl.crt'), 'utf8'), keyPem: readFileSync(agents.pki(1, 'etcdctl.key'), 'utf8') };
    const writer = startWriter([1, 2, 3].map((i) => `https://${bed.host(i).address}:2379`), tls, `/writer/${cluster}/`);
    return { agents, token, writer };
  };

  /** 5 voters, no learner; every join went learner -> voter; same cluster id; no write lost. */
  const checkFive = async (t: Test, agents: NetnsAgents, writer: { stop(): Promise<WriterReport> }, startedAt: number): Promise<void> => {
    const statuses = await agents.waitFormed([1, 2, 3, 4, 5], 180_000);
    await waitFor('5 voters and no learner', async () => {
      const list = await members(agents);
      return list.length === 5 && list.every((m) => !m.learner && m.name !== '');
    }, { timeoutMs: 60_000, describe: () => agents.describe([1, 4, 5]) });
    t.comment(`5 voters ${Date.now() - startedAt} ms after the joiners started (or the resize)`);
    await new Promise((r) => setTimeout(r, 2000));
    const report = await writer.stop();
    const list = await members(agents);
    t.same(list.map((m) => m.name).sort(), ['h1', 'h2', 'h3', 'h4', 'h5'], 'five members');
    t.ok(list.every((m) => !m.learner), 'all voters, no learner');
    t.equal(new Set(statuses.map((s: StatusReport) => s.cluster.id)).size, 1, 'one cluster id on every node');
    const ops = (await agents.status(1)).membership?.ops ?? [];
    for (const h of ['h4', 'h5']) {
      const added = ops.findIndex((o) => o.op === 'add-learner' && o.target === h && o.result === 'ok');
      const promoted = ops.findIndex((o) => o.op === 'promote' && o.target === h && o.result === 'ok');
      t.ok(added >= 0 && promoted > added, `${h} was added as a learner, then promoted (ops: ${ops.map((o) => `${o.op} ${o.target} ${o.result}`).join('; ')})`);
    }
    const s5 = await agents.status(5);
    t.equal(s5.membership?.wantedSize, 5, 'a joiner sees the wanted size');
    t.match(s5.membership?.sizeNote ?? '', /cluster.size in this node's config is 3, but the cluster's wanted size \(in etcd\) is 5/, 'and says its own config differs');
    t.comment(`writer: ${report.ok} of ${report.attempts} writes, longest gap ${report.maxGapMs} ms`);
    t.same(report.failures, [], 'no write failed while the cluster grew');
    t.ok(report.ok > 20, 'the writer kept writing');
    t.ok(report.maxGapMs < 10_000, `no gap over 10 s between two acknowledged writes (${report.maxGapMs} ms)`);
    const read = await agents.etcdctl(4, ['get', '--prefix', '--keys-only', '-w', 'json', '/writer/']);
    t.equal((JSON.parse(read.stdout) as { count?: number }).count, report.ok, 'every acknowledged write is there, read through a joiner');
  };

  interface Run {
    agents?: NetnsAgents;
    writer?: { stop(): Promise<WriterReport> };
  }

  /** Runs a variant; its writer and agents are stopped whatever happens (the next variant uses the same hosts). */
  const variant = async (fn: (run: Run) => Promise<void>): Promise<void> => {
    const run: Run = {};
    try {
      await fn(run);
    } finally {
      await run.writer?.stop();
      if (run.agents) for (const i of [1, 2, 3, 4, 5]) await run.agents.stop(i);
    }
  };

  if (which === 'grow') t.test('issue 10 #1: cluster resize 5, then two agents join; each learner -> voter; a writer keeps writing', (t) =>
    variant(async (run) => {
      Object.assign(run, await formThree('grow'));
      const agents = run.agents!;
      await resize(agents, 5);
      const started = Date.now();
      agents.start(4);
      agents.start(5);
      await checkFive(t, agents, run.writer!, started);
    }),
  );

  if (which === 'spares') t.test('issue 10 #1 (spares first): two agents wait as spares, then cluster resize 5; both join', (t) =>
    variant(async (run) => {
      Object.assign(run, await formThree('spares'));
      const agents = run.agents!;
      agents.start(4);
      agents.start(5);
      const spares = await waitFor('h4 and h5 to wait as spares', async () => {
        const ss = await agents.statuses([4, 5]);
        return ss.every((s) => s.phase === 'spare') ? ss : undefined;
      }, { timeoutMs: 120_000, describe: () => agents.describe([4, 5]) });
      for (const s of spares) t.match(s.reason, /cluster has 3 of 3 voters; this node replaces the first member that fails/, `${s.node.name}: ${s.reason}`);
      t.same((await members(agents)).length, 3, 'spares are not members');
      // A member that no joiner asked reads the queue at its quiet pace (MEMBERSHIP_QUIET_INTERVAL_MS): bounded wait.
      const queue = await waitFor('h1 to list both spares in its queue', async () => {
        const q = (await agents.status(1)).membership?.queue ?? [];
        return q.length === 2 ? q : undefined;
      }, { timeoutMs: 20_000, describe: () => agents.describe([1]) });
      t.same(queue.map((q) => q.state), ['spare', 'spare'], 'a member lists both spares');
      await resize(agents, 5);
      await checkFive(t, agents, run.writer!, Date.now());
    }),
  );
}
