/**
 * Partition trials during bootstrap on network-namespace hosts (TestBed +
 * NetnsAgents, real multicast on a bridge). One bed serves many trials: each
 * trial gets fresh agent roots (a new NetnsAgents), and between trials every
 * process in the bed's namespaces is killed and the partition table removed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { generateToken } from '../src/pki/index.js';
import { NetnsAgents } from '../test/helpers/netns-agents.js';
import { TestBed } from '../test/helpers/netns.js';
import { killAndWait, stateDir, type TrialNode } from './access.js';
import { checkAll, phasesNow, waitAllReady } from './invariants.js';
import type { TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

export const PARTITION_RECOVERY_BOUND_MS = 120_000;
const TABLE = 'ea_trial_partition';

function nft(bed: TestBed, i: number, args: string[], input?: string): { code: number | null; output: string } {
  const r = spawnSync('ip', ['netns', 'exec', bed.host(i).netns, 'nft', ...args], { encoding: 'utf8', timeout: 10_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/**
 * Cuts host i off from the other hosts, both ways, in its own namespace:
 * unicast from/to their addresses and its multicast out (their multicast in
 * carries their source address, so it is dropped too).
 */
export function partition(bed: TestBed, i: number): void {
  const others = bed.hosts.filter((h) => h.index !== i).map((h) => h.address);
  const rules = `table ip ${TABLE} {
  chain in { type filter hook input priority -10; policy accept; ip saddr { ${others.join(', ')} } drop; }
  chain out { type filter hook output priority -10; policy accept; ip daddr { ${others.join(', ')} } drop; ip daddr 224.0.0.0/4 drop; }
}
`;
  const r = nft(bed, i, ['-f', '-'], rules);
  if (r.code !== 0) throw new Error(`nft could not partition ${bed.host(i).hostname}: ${r.output}`);
}

export function heal(bed: TestBed, i: number): void {
  nft(bed, i, ['delete', 'table', 'ip', TABLE]);
}

export function netnsNode(agents: NetnsAgents, i: number): TrialNode {
  const bed = agents.bed;
  return {
    name: bed.host(i).hostname,
    root: agents.root(i),
    logFiles: () => [agents.logFile(i), join(stateDir(agents.root(i)), 'etcd.log')],
    get: (path) => bed.httpGet(i, `http://127.0.0.1:2391${path}`),
    etcdctl: async (args) => {
      const r = await agents.etcdctl(i, args);
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },
    pids: () => bed.pids(i),
  };
}

/** Network-namespace hosts kept for many trials of a run: reset between trials, destroyed at the end. */
export abstract class NetnsTrialBed {
  protected constructor(readonly bed: TestBed) {}

  protected hosts(): number[] {
    return this.bed.hosts.map((h) => h.index);
  }

  /** Every process in the bed's hosts killed, partitions removed: the bed as new. */
  async reset(): Promise<void> {
    for (const i of this.hosts()) heal(this.bed, i);
    const left = await killAndWait(this.hosts().flatMap((i) => this.bed.pids(i)));
    if (left.length > 0) throw new Error(`processes ${left.join(' ')} in the bed survived SIGKILL`);
  }

  async destroy(): Promise<void> {
    await this.reset().catch(() => undefined);
    await this.bed.destroy();
  }

  abstract runTrial(seed: number): Promise<TrialRecord>;
}

/** A 3-host bed kept for many partition trials. */
export class PartitionBed extends NetnsTrialBed {
  static async create(): Promise<PartitionBed> {
    return new PartitionBed(await TestBed.create({ hosts: 3 }));
  }

  async runTrial(seed: number): Promise<TrialRecord> {
    const rng = new Rng(seed);
    const began = Date.now();
    const record: TrialRecord = { kind: 'partition-bootstrap', seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
    const agents = new NetnsAgents(this.bed);
    const hosts = this.hosts();
    const token = generateToken();
    let victim = 0;
    try {
      const discovery = rng.pick(['seeds', 'mdns'] as const);
      for (const i of hosts) {
        await agents.init(i, {
          cluster: 'trial',
          size: 3,
          token,
          mdns: discovery === 'mdns',
          ...(discovery === 'seeds' ? { seeds: hosts.filter((h) => h !== i) } : {}),
        });
      }
      const nodes = hosts.map((i) => netnsNode(agents, i));
      const atMs = rng.int(0, 15_000);
      victim = rng.pick(hosts);
      const durationMs = rng.int(1_000, 20_000);
      for (const i of hosts) agents.start(i);
      const started = Date.now();
      await sleep(started + atMs - Date.now());
      const phases = await phasesNow(nodes);
      partition(this.bed, victim);
      record.fault = { discovery, atMs, sinceStartMs: Date.now() - started, victim: this.bed.host(victim).hostname, durationMs, phases };
      await sleep(durationMs);
      // Taken just before the heal, so the recovery time does not include it.
      record.fault.phasesAtHeal = await phasesNow(nodes);
      heal(this.bed, victim);
      const healed = Date.now();
      const recovery = await waitAllReady(nodes, healed, PARTITION_RECOVERY_BOUND_MS);
      record.recoveryMs = recovery.ms;
      record.invariants = await checkAll(nodes, { token, recovery, boundMs: PARTITION_RECOVERY_BOUND_MS });
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    } finally {
      try {
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
