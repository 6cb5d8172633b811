/**
 * kill -9 at every point between two writes of a multi-file update (issue 9.3).
 * For each failpoint (src/util/failpoint.ts): three real agents with real etcd
 * start together; the victim runs with ETCD_AGENT_FAILPOINTS=<point> and dies
 * there by SIGKILL; it is restarted without it, and the cluster must still form:
 * every node formed and ready, one cluster id, one CA certificate everywhere.
 *
 * Node ids are fixed (node keys written before the first start), so the
 * first node of each scenario is the CA holder (the lowest id) and the second
 * is a plain member. Scenarios run in lanes, one per loopback /24 this file
 * owns (127.0.105/115/125.0/24) and per two cores; a lane's scenarios run one
 * after another on the same addresses, each from freshly initialised roots.
 *
 * By default the CA points and a representative set run; CRASH_POINTS=all
 * runs every point on the holder and on a member, CRASH_POINTS=<point>,...
 * only those points.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { FAILPOINTS, FAILPOINTS_ENV, type FailpointName } from '../../src/util/failpoint.js';
import { NodeSet, nodeKeysById, type TestNode } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

type Victim = 'holder' | 'member';
interface Scenario {
  point: FailpointName;
  victim: Victim;
}

/** Points only the CA holder passes. */
const CA_POINTS: FailpointName[] = ['ca-key-written', 'ca-written-before-holder-record'];

/** The CA points, partly written certificates, the re-enrollment window, and the conf flip. */
const DEFAULT: Scenario[] = [
  { point: 'ca-key-written', victim: 'holder' },
  { point: 'ca-written-before-holder-record', victim: 'holder' },
  { point: 'pki-server-cert-written', victim: 'member' },
  { point: 'pki-written-before-enrollment', victim: 'member' },
  { point: 'conf-existing-before-formed', victim: 'member' },
];

const ALL: Scenario[] = FAILPOINTS.flatMap((point): Scenario[] =>
  CA_POINTS.includes(point) ? [{ point, victim: 'holder' }] : [{ point, victim: 'holder' }, { point, victim: 'member' }],
);

/** CRASH_POINTS: unset → DEFAULT; `all` → ALL; a comma list of points → those points from ALL. */
function chosen(): Scenario[] {
  const want = process.env.CRASH_POINTS?.trim();
  if (!want) return DEFAULT;
  if (want === 'all') return ALL;
  const points = want.split(',').map((s) => s.trim());
  return ALL.filter((s) => points.includes(s.point));
}
const scenarios = chosen();
const SUBNETS = [105, 115, 125];
// Generous: on a loaded machine agents start and etcd elects slowly; the bounds only matter on failure.
const KILL_WAIT_MS = 90_000;
const FORM_WAIT_MS = 120_000;
// Worst case: one lane, every scenario runs into both bounds.
t.setTimeout(Math.max(600_000, scenarios.length * (KILL_WAIT_MS + FORM_WAIT_MS + 30_000)));

interface Outcome {
  scenario: Scenario;
  /** The victim died by SIGKILL after printing the failpoint line. */
  killedAtPoint: boolean;
  /** Formation after the restart, or why it did not happen (with every node's state). */
  error?: string;
  clusterIds: (string | null)[];
  caHashes: string[];
  holderCaHash: string;
  ms: number;
}

const lanes: Lane[] = [];
t.teardown(async () => {
  for (const lane of lanes) await lane.set.cleanup(process.env.KEEP_TEST_DIRS === '1');
});

const sha256 = (file: string): string => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent');

/**
 * Three nodes on one subnet, `etcd-agent init` run once: each scenario starts
 * from a copy of the freshly initialised roots (init is three Node start-ups,
 * the slowest part of a scenario on a loaded machine), on the same addresses
 * once everything of the previous scenario is gone.
 */
class Lane {
  readonly set: NodeSet;
  private previous = 'init';
  /** Node keys ordered by the node id each gives: the first node is the CA holder (the lowest id), the second a member. */
  private keys: { nodeId: string; keyPem: string }[] = [];

  constructor(readonly subnet: number) {
    this.set = new NodeSet({ subnet, count: 3, token: generateToken(), cluster: 'crash' });
  }

  async init(): Promise<void> {
    this.keys = await nodeKeysById(3);
    await this.set.init();
    for (const n of this.set.nodes) await cp(n.root, `${n.root}.template`, { recursive: true, preserveTimestamps: true });
  }

  /** Kills every agent and etcd of the last scenario and waits until their ports are free. */
  async stopAll(): Promise<void> {
    for (const n of this.set.nodes) {
      const proc = n.proc;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      this.set.killEtcd(n);
    }
    await waitFor(
      `the ports of the previous scenario on 127.0.${this.subnet}.0/24 to be free`,
      async () => (await Promise.all(this.set.nodes.flatMap((n) => [2379, 2380, 2390, 2391].map((p) => portFree(n.address, p))))).every(Boolean),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  }

  /** Fresh roots for the next scenario; the last scenario's logs are kept as <node>.<label>.log. */
  private async restore(label: string): Promise<void> {
    for (const [i, n] of this.set.nodes.entries()) {
      if (existsSync(n.logFile)) await rename(n.logFile, n.logFile.replace(/\.log$/, `.${this.previous}.log`));
      await rm(n.root, { recursive: true, force: true });
      await cp(`${n.root}.template`, n.root, { recursive: true, preserveTimestamps: true });
      // Fixed ids (an id is its node key's id): the first node is the CA holder (the lowest id), the second a member.
      const pkiDir = join(n.root, 'etc', 'etcd', 'pki');
      await mkdir(pkiDir, { recursive: true, mode: 0o755 });
      await writeFile(join(pkiDir, 'server.key'), this.keys[i]!.keyPem, { mode: 0o600 });
    }
    this.previous = label;
  }

  async run(scenario: Scenario): Promise<Outcome> {
    const started = Date.now();
    const set = this.set;
    const outcome: Outcome = { scenario, killedAtPoint: false, clusterIds: [], caHashes: [], holderCaHash: '', ms: 0 };
    try {
      await this.stopAll();
      await this.restore(`${scenario.victim}-${scenario.point}`);
      const [holder, member] = set.nodes as [TestNode, TestNode, TestNode];
      const victim = scenario.victim === 'holder' ? holder : member;
      for (const n of set.nodes) set.start(n, { env: { [FAILPOINTS_ENV]: n === victim ? scenario.point : '' } });

      await waitFor(
        `${victim.name} to die at failpoint ${scenario.point}`,
        () => (victim.proc?.signalCode != null || victim.proc?.exitCode != null ? true : undefined),
        { timeoutMs: KILL_WAIT_MS, intervalMs: 100, describe: () => set.describe() },
      );
      const log = readFileSync(victim.logFile, 'utf8');
      outcome.killedAtPoint = victim.proc?.signalCode === 'SIGKILL' && log.includes(`failpoint ${scenario.point} reached`);
      if (!outcome.killedAtPoint) throw new Error(`${victim.name} exited (code ${victim.proc?.exitCode}, signal ${victim.proc?.signalCode}) without reaching ${scenario.point}`);

      set.start(victim, { env: { [FAILPOINTS_ENV]: '' } });
      await set.waitFormed(set.nodes, FORM_WAIT_MS);
      const statuses = await Promise.all(set.nodes.map((n) => set.status(n)));
      outcome.clusterIds = statuses.map((s) => s.cluster.id);
      outcome.caHashes = set.nodes.map((n) => sha256(set.pki(n, 'ca.crt')));
      outcome.holderCaHash = sha256(join(holder.root, 'var', 'lib', 'etcd-agent', 'ca.crt'));
    } catch (err) {
      outcome.error = err instanceof Error ? err.message : String(err);
    }
    outcome.ms = Date.now() - started;
    return outcome;
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolvePort(false);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolvePort(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolvePort(err.code === 'ECONNREFUSED'));
  });
}

const outcomes: Outcome[] = [];

t.before(async () => {
  // One lane per two cores (at least one, at most one per subnet): on a small
  // machine parallel clusters only slow each other down.
  const laneCount = Math.max(1, Math.min(SUBNETS.length, Math.floor(availableParallelism() / 2), scenarios.length));
  for (const subnet of SUBNETS.slice(0, laneCount)) lanes.push(new Lane(subnet));
  await Promise.all(lanes.map((lane) => lane.init()));
  // Lane k runs scenarios k, k+lanes, k+2*lanes ... one after another.
  await Promise.all(
    lanes.map(async (lane, k) => {
      for (let i = k; i < scenarios.length; i += lanes.length) outcomes.push(await lane.run(scenarios[i]!));
      await lane.stopAll();
    }),
  );
  t.comment(`${scenarios.length} scenarios in ${lanes.length} lane(s)`);
});

for (const scenario of scenarios) {
  t.test(`kill -9 of the ${scenario.victim} at ${scenario.point}: it restarts and the cluster forms`, async (t) => {
    const o = outcomes.find((x) => x.scenario === scenario);
    if (!o) return t.fail('scenario did not run');
    t.comment(`${o.ms} ms`);
    t.ok(o.killedAtPoint, `the ${scenario.victim} died by SIGKILL at ${scenario.point}`);
    t.equal(o.error, undefined, 'all three nodes formed and ready after the restart');
    if (o.error) return;
    t.equal(new Set(o.clusterIds).size, 1, 'one cluster id on all nodes');
    t.ok(o.clusterIds[0], 'cluster id known');
    t.equal(new Set(o.caHashes).size, 1, 'one CA certificate on all nodes');
    t.equal(o.caHashes[0], o.holderCaHash, "it is the holder's CA");
  });
}
