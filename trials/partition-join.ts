/**
 * partition-join: a network partition during a day-2 join (issue 13). Four
 * network-namespace hosts on a bridge (TestBed + NetnsAgents, as
 * partition-bootstrap); hosts 1-3 form a cluster (seeds or mDNS, drawn per
 * trial), a writer puts through their client URLs from the root namespace,
 * `etcd-agent cluster resize 4` runs on h1 and h4's agent starts and joins
 * (learner, then voter). 0–8 s after h4 starts, one random host of the four
 * (the joiner or a voter) is cut off from the other three for 1–20 s, then
 * healed. Recovery counts from the heal until all four are ready and each
 * one's etcd lists four voters and no learner.
 *
 * The writer reaches the hosts from the bridge address (10.X.0.1), which the
 * partition does not drop: a partitioned voter still gets the writer's
 * requests, and can only answer them with a quorum behind it.
 *
 * One bed serves many trials, as PartitionBed does.
 */
import { readFileSync } from 'node:fs';
import { generateToken } from '../src/pki/index.js';
import { CLI } from '../test/helpers/agents.js';
import { NetnsAgents } from '../test/helpers/netns-agents.js';
import { TestBed } from '../test/helpers/netns.js';
import { startWriter, type WriterReport } from '../test/helpers/writer.js';
import type { TrialNode } from './access.js';
import { checkAll, phasesNow } from './invariants.js';
import { votersOnly, waitReadyAndMembers } from './members.js';
import { statusOf } from './node-status.js';
import { heal, netnsNode, NetnsTrialBed, partition } from './partition.js';
import { violations, type TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

export const PARTITION_JOIN_RECOVERY_BOUND_MS = 120_000;
const FORM_BOUND_MS = 120_000;
const JOINER = 4;
const VOTERS = [1, 2, 3];

/** What a node said at the end, compactly, when the trial went wrong. */
async function endEvidence(n: TrialNode): Promise<Record<string, unknown>> {
  const s = await statusOf(n);
  if (!s) return { status: '(no status)' };
  return {
    phase: s.phase,
    ready: s.ready,
    reason: s.reason,
    caHolder: s.caHolder?.name ?? null,
    membership: s.membership ? { wantedSize: s.membership.wantedSize, voters: s.membership.voters, learners: s.membership.learners, queue: s.membership.queue, plan: s.membership.plan, problems: s.membership.problems } : null,
  };
}

/** A 4-host bed kept for many partition-join trials. */
export class PartitionJoinBed extends NetnsTrialBed {
  static async create(): Promise<PartitionJoinBed> {
    return new PartitionJoinBed(await TestBed.create({ hosts: 4 }));
  }

  async runTrial(seed: number): Promise<TrialRecord> {
    const rng = new Rng(seed);
    const began = Date.now();
    const record: TrialRecord = { kind: 'partition-join', seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
    const agents = new NetnsAgents(this.bed);
    const hosts = this.hosts();
    const token = generateToken();
    const prefix = `/trial/${seed}/`;
    let writer: { stop(): Promise<WriterReport> } | undefined;
    let victim = 0;
    try {
      // The draws, in an order that is part of what a seed means.
      const discovery = rng.pick(['seeds', 'mdns'] as const);
      const atMs = rng.int(0, 8_000);
      victim = rng.pick(hosts);
      const partitionMs = rng.int(1_000, 20_000);

      // Every init first (a CLI start-up can take seconds on a loaded machine), so the joiner starts at once later.
      for (const i of hosts) {
        const seeds = i === JOINER ? VOTERS : VOTERS.filter((h) => h !== i);
        await agents.init(i, { cluster: 'trial', size: 3, token, mdns: discovery === 'mdns', ...(discovery === 'seeds' ? { seeds } : {}) });
      }
      const nodes = hosts.map((i) => netnsNode(agents, i));
      for (const i of VOTERS) agents.start(i);
      const formStart = Date.now();
      await agents.waitFormed(VOTERS, FORM_BOUND_MS);
      record.fault.formedAfterMs = Date.now() - formStart;
      const tls = { caPem: readFileSync(agents.pki(1, 'ca.crt'), 'utf8'), certPem: readFileSync(agents.pki(1, 'etcdctl.crt'), 'utf8'), keyPem: readFileSync(agents.pki(1, 'etcdctl.key'), 'utf8') };
      writer = startWriter(VOTERS.map((i) => `https://${this.bed.host(i).address}:2379`), tls, prefix);

      // Day 2: the wanted size goes to 4 and h4 joins; the partition lands during that.
      const resizeStart = Date.now();
      const resize = await this.bed.exec(1, [process.execPath, CLI, 'cluster', 'resize', '4', '--config', agents.configPath(1)], { timeoutMs: 60_000 });
      if (resize.code !== 0) throw new Error(`cluster resize 4 failed (${resize.code}): ${resize.output}`);
      record.fault.resizeMs = Date.now() - resizeStart;
      agents.start(JOINER);
      const started = Date.now();

      await sleep(started + atMs - Date.now());
      const [phases, holder] = await Promise.all([phasesNow(nodes), statusOf(nodes[0]!).then((s) => s?.caHolder?.name ?? null)]);
      partition(this.bed, victim);
      const partitionedAt = Date.now();
      const victimName = this.bed.host(victim).hostname;
      Object.assign(record.fault, {
        discovery,
        victim: victimName,
        victimRole: victim === JOINER ? 'joiner' : 'voter',
        victimWasCaHolder: holder === victimName,
        atMs,
        sinceJoinerStartMs: partitionedAt - started,
        partitionMs,
        phases,
      });
      await sleep(partitionMs);
      // Taken just before the heal, so the recovery time does not include it.
      record.fault.phasesAtHeal = await phasesNow(nodes);
      heal(this.bed, victim);
      const healed = Date.now();

      const recovery = await waitReadyAndMembers(nodes, votersOnly(4), '4 voters and no learner', healed, PARTITION_JOIN_RECOVERY_BOUND_MS);
      record.recoveryMs = recovery.ms;
      record.fault.membersAfterHealMs = recovery.membersMs;
      // The membership operations, timed from the partition (negative: before it).
      const ops = (await statusOf(nodes[0]!))?.membership?.ops ?? [];
      record.fault.ops = ops.map((o) => `${o.op} ${o.target} ${o.result} ${Date.parse(o.at) - partitionedAt} ms${o.result === 'ok' ? '' : ` (${o.reason})`}`);

      await sleep(1_000);
      const report = await writer.stop();
      record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs, firstFailures: report.failures.slice(0, 3) };
      record.invariants = await checkAll(nodes, { token, recovery, boundMs: PARTITION_JOIN_RECOVERY_BOUND_MS, writes: { prefix, acked: report.keys } });
      if (violations(record).length > 0) {
        const evidence: Record<string, unknown> = {};
        for (const n of nodes) evidence[n.name] = await endEvidence(n);
        record.fault.endStatus = evidence;
      }
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    } finally {
      try {
        await writer?.stop().catch(() => undefined);
        if (victim) heal(this.bed, victim);
        await this.reset();
        await agents.cleanup();
      } catch (err) {
        record.error = `${record.error ?? ''} teardown: ${String(err)}`.trim();
      }
      record.trialMs = Date.now() - began;
    }
    return record;
  }
}
