/**
 * A joiner killed (SIGKILL, at a failpoint) at each step after it was
 * admitted resumes from what it persisted when started again: it enrolls
 * again or not, claims its data dir once, starts etcd as the learner it was
 * admitted as, and is promoted. It never bootstraps a cluster of its own: one
 * cluster id on every node, and the joiner is a member exactly once.
 * Real etcd and agents on loopback (127.0.62.0/24).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { generateToken } from '../../src/pki/index.js';
import type { FailpointName } from '../../src/util/failpoint.js';
import { NodeSet, cliAsync, type TestNode } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(600_000);
const token = generateToken();
const set = new NodeSet({ subnet: 62, count: 3, token, cluster: 'resume' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

/** After admission: keys made, CSRs not sent; certificates and enrollment.json written; data dir claimed, etcd not started. */
const POINTS: FailpointName[] = ['pki-keys-written', 'enrollment-written', 'data-dir-claimed'];

/** `etcdctl member list` (simple format: ids in hex; the JSON format prints them as numbers too large for a double). */
function members(n: TestNode): { id: string; name: string; learner: boolean }[] {
  const r = set.etcdctl(n, ['member', 'list']);
  if (r.status !== 0) throw new Error(`member list: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((line) => {
    const [id = '', , name = '', , , learner = ''] = line.split(', ');
    return { id, name, learner: learner.trim() === 'true' };
  });
}

t.before(async () => {
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
});

for (const [k, point] of POINTS.entries()) {
  t.test(`a joiner killed at ${point} resumes and becomes a voter; one cluster`, async (t) => {
    const [n1] = set.nodes as [TestNode];
    const resize = await cliAsync(['cluster', 'resize', String(4 + k), '--config', n1.configPath]);
    t.equal(resize.status, 0, resize.stderr);
    const joiner = await set.addNode(4 + k, set.nodes.slice(0, 3), token);
    set.start(joiner, { env: { ETCD_AGENT_FAILPOINTS: point } });
    const proc = joiner.proc!;
    await waitFor(`${joiner.name} to die at ${point}`, () => proc.exitCode !== null || proc.signalCode !== null, { timeoutMs: 120_000, describe: () => set.describe([n1, joiner]) });
    t.equal(proc.signalCode, 'SIGKILL', 'killed by SIGKILL');
    t.match(readFileSync(joiner.logFile, 'utf8'), new RegExp(`failpoint ${point} reached`), 'at the failpoint');
    const learner = members(n1).filter((m) => m.learner);
    t.equal(learner.length, 1, 'its learner exists');

    set.start(joiner);
    await waitFor(`${joiner.name} to become a voter`, () => members(n1).some((m) => m.name === joiner.name && !m.learner), {
      timeoutMs: 120_000,
      describe: () => set.describe([n1, joiner]),
    });
    await set.waitFormed([joiner], 30_000);
    const list = members(n1);
    t.equal(list.filter((m) => m.name === joiner.name).length, 1, 'a member exactly once');
    t.equal(list.find((m) => m.name === joiner.name)?.id, learner[0]?.id, 'as the learner it was admitted as');
    t.equal(list.filter((m) => m.learner).length, 0, 'no learner left');
    const voters = set.nodes.filter((n) => n.proc && n.proc.exitCode === null);
    const ids = await Promise.all(voters.map(async (n) => (await set.status(n)).cluster.id));
    t.equal(new Set(ids).size, 1, `one cluster id on every node (${ids.join(', ')})`);
    t.equal((await set.status(joiner)).localMemberId, learner[0]?.id, 'its formed marker names that member');
  });
}
