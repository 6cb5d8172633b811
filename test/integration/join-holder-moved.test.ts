/**
 * A joiner admitted while one member held the CA role enrolls with whoever
 * holds it when it gets to enroll. Found by the kill-replace trial (seed
 * 5004): the spare was admitted naming holder n1; n1's agent was killed and
 * restarted, another member took the CA role meanwhile, and the joiner kept
 * asking n1 (which now refuses: not the holder) for as long as it was looked
 * at. Here, deterministically: the joiner stops right after its admission
 * (failpoint join-admitted), the holder's agent is killed until another
 * member holds the role, then both are started again. The joiner must ask
 * the cluster again, enroll with the new holder, run its learner and be
 * promoted; one CA, one cluster id.
 * Real etcd and agents on loopback (127.0.63.0/24).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, cliAsync, type TestNode } from '../helpers/agents.js';
import { clusterIds, members } from '../helpers/cluster-checks.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(600_000);
const token = generateToken();
const set = new NodeSet({ subnet: 63, count: 3, token, cluster: 'moved' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

t.test('a joiner enrolls with the CA holder of now, not the one named at its admission', async (t) => {
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 120_000);
  const [n1] = set.nodes as [TestNode];
  const holderName = (await set.status(n1)).caHolder?.name;
  const holder = set.nodes.find((n) => n.name === holderName);
  if (!holder) throw new Error(`no CA holder reported by ${n1.name}`);
  const survivor = set.nodes.find((n) => n !== holder)!;

  const resize = await cliAsync(['cluster', 'resize', '4', '--config', survivor.configPath]);
  t.equal(resize.status, 0, resize.stderr);
  const joiner = await set.addNode(4, set.nodes.slice(0, 3), token);
  set.start(joiner, { env: { ETCD_AGENT_FAILPOINTS: 'join-admitted' } });
  const proc = joiner.proc!;
  await waitFor(`${joiner.name} to stop right after its admission`, () => proc.exitCode !== null || proc.signalCode !== null, {
    timeoutMs: 120_000,
    describe: () => set.describe([survivor, joiner]),
  });
  const admission = JSON.parse(readFileSync(`${joiner.root}/var/lib/etcd-agent/join.json`, 'utf8')) as { caHolder: { name: string } };
  t.equal(admission.caHolder.name, holder.name, `admitted naming the holder of then (${holder.name})`);

  // The holder's agent is killed (as in the trial) until another member holds the CA role, then comes back.
  await set.stop(holder, 'SIGKILL');
  const moved = await waitFor('another member to hold the CA role', async () => {
    const name = (await set.status(survivor).catch(() => undefined))?.caHolder?.name;
    return name !== undefined && name !== holder.name ? name : undefined;
  }, { timeoutMs: 90_000, intervalMs: 500, describe: () => set.describe([survivor]) });
  t.comment(`CA role moved ${holder.name} → ${moved}`);
  set.start(holder);
  await set.waitFormed([holder], 60_000);

  set.start(joiner);
  await waitFor(`${joiner.name} to become a voter`, () => members(set, survivor)?.members.some((m) => m.name === joiner.name && !m.isLearner) === true, {
    timeoutMs: 120_000,
    intervalMs: 500,
    describe: () => set.describe([survivor, joiner]),
  });
  await set.waitFormed([joiner], 60_000);
  const log = readFileSync(joiner.logFile, 'utf8');
  t.match(log, /the CA holder changed since this node was admitted; enrolling with the new one/, 'it says why it enrolled elsewhere');
  const ca = (n: TestNode): string => readFileSync(set.pki(n, 'ca.crt'), 'utf8');
  t.ok(set.nodes.every((n) => ca(n) === ca(n1)), 'one CA certificate on every node');
  const ids = Object.values(clusterIds(set, set.nodes));
  t.equal(new Set(ids).size, 1, `one cluster id on every node: ${ids.join(', ')}`);
  const list = members(set, survivor)!;
  t.equal(list.members.length, 4, 'four members');
  t.notOk(list.members.some((m) => m.isLearner), 'no learner left');
});
