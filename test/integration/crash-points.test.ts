/**
 * kill -9 at every point between two writes of a multi-file update (issue 9.3).
 * For each failpoint (src/util/failpoint.ts): three real agents with real etcd
 * start together; the victim runs with ETCD_AGENT_FAILPOINTS=<point> and dies
 * there by SIGKILL; it is restarted without it, and the cluster must still form:
 * every node formed and ready, one cluster id, one CA certificate everywhere.
 *
 * Node ids are fixed (identity.json written before the first start), so the
 * first node of each scenario is the CA holder (the lowest id) and the second
 * is a plain member. Scenarios run in three lanes, one per loopback /24 this
 * file owns (127.0.105/115/125.0/24); each scenario takes fresh addresses.
 *
 * By default the CA points and a representative set run; CRASH_POINTS=all
 * runs every point on the holder and on a member, CRASH_POINTS=<point>,...
 * only those points.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { FAILPOINTS, FAILPOINTS_ENV, type FailpointName } from '../../src/util/failpoint.js';
import { NodeSet, type TestNode } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

type Victim = 'holder' | 'member';
interface Scenario {
  point: FailpointName;
  victim: Victim;
}

/** Points only the CA holder passes. */
const CA_POINTS: FailpointName[] = ['ca-key-written', 'ca-written-before-holder-record'];

const DEFAULT: Scenario[] = [
  { point: 'ca-key-written', victim: 'holder' },
  { point: 'ca-written-before-holder-record', victim: 'holder' },
  { point: 'pki-written-before-enrollment', victim: 'holder' },
  { point: 'pki-keys-written', victim: 'member' },
  { point: 'pki-server-cert-written', victim: 'member' },
  { point: 'pki-written-before-enrollment', victim: 'member' },
  { point: 'enrollment-written', victim: 'member' },
  { point: 'data-dir-claimed', victim: 'member' },
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
const KILL_WAIT_MS = 60_000;
const FORM_WAIT_MS = 90_000;

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

const sets: NodeSet[] = [];
t.teardown(async () => {
  for (const s of sets) await s.cleanup(process.env.KEEP_TEST_DIRS === '1');
});

const nodeIdOf = (i: number): string => String(i + 1).repeat(32);
const sha256 = (file: string): string => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent');

async function run(scenario: Scenario, subnet: number, slot: number): Promise<Outcome> {
  const started = Date.now();
  const set = new NodeSet({ subnet, count: 3, token: generateToken(), cluster: 'crash', firstIndex: 1 + 3 * slot });
  sets.push(set);
  const outcome: Outcome = { scenario, killedAtPoint: false, clusterIds: [], caHashes: [], holderCaHash: '', ms: 0 };
  try {
    await set.init();
    // Fixed ids: the first node is the CA holder (lowest id), the second a member.
    for (const [i, n] of set.nodes.entries()) {
      const stateDir = join(n.root, 'var', 'lib', 'etcd-agent');
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      await writeFile(join(stateDir, 'identity.json'), `${JSON.stringify({ nodeId: nodeIdOf(i), createdAt: new Date().toISOString() })}\n`, { mode: 0o600 });
    }
    const [holder, member] = set.nodes as [TestNode, TestNode, TestNode];
    const victim = scenario.victim === 'holder' ? holder : member;
    for (const n of set.nodes) set.start(n, { [FAILPOINTS_ENV]: n === victim ? scenario.point : '' });

    await waitFor(
      `${victim.name} to die at failpoint ${scenario.point}`,
      () => victim.proc?.signalCode === 'SIGKILL' || victim.proc?.exitCode != null ? true : undefined,
      { timeoutMs: KILL_WAIT_MS, intervalMs: 100, describe: () => set.describe() },
    );
    const log = readFileSync(victim.logFile, 'utf8');
    outcome.killedAtPoint = victim.proc?.signalCode === 'SIGKILL' && log.includes(`failpoint ${scenario.point} reached`);
    if (!outcome.killedAtPoint) throw new Error(`${victim.name} exited (code ${victim.proc?.exitCode}, signal ${victim.proc?.signalCode}) without reaching ${scenario.point}`);

    set.start(victim, { [FAILPOINTS_ENV]: '' });
    await set.waitFormed(set.nodes, FORM_WAIT_MS);
    const statuses = await Promise.all(set.nodes.map((n) => set.status(n)));
    outcome.clusterIds = statuses.map((s) => s.cluster.id);
    outcome.caHashes = set.nodes.map((n) => sha256(set.pki(n, 'ca.crt')));
    outcome.holderCaHash = sha256(join(holder.root, 'var', 'lib', 'etcd-agent', 'ca.crt'));
  } catch (err) {
    outcome.error = err instanceof Error ? err.message : String(err);
  } finally {
    outcome.ms = Date.now() - started;
    await set.cleanup(process.env.KEEP_TEST_DIRS === '1');
  }
  return outcome;
}

const outcomes: Outcome[] = [];

t.before(async () => {
  // Lane k runs scenarios k, k+3, k+6 ... one after another on its own subnet.
  await Promise.all(
    SUBNETS.map(async (subnet, lane) => {
      for (let i = lane, slot = 0; i < scenarios.length; i += SUBNETS.length, slot++) {
        outcomes.push(await run(scenarios[i]!, subnet, slot));
      }
    }),
  );
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
