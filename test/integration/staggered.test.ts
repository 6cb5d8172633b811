/**
 * Agents that do not start together still form one cluster: the first waits
 * (and says why, naming the unreachable seeds), the later ones catch up.
 */
import t from 'tap';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';
import { waitCaHolderNamed, waitFor } from '../helpers/wait.js';

const set = new NodeSet({ subnet: 42, count: 3, token: generateToken(), cluster: 'stagger' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

t.test('agents started 10 s apart form one cluster', async (t) => {
  await set.init();
  const [n1, n2, n3] = set.nodes as [typeof set.nodes[0], typeof set.nodes[0], typeof set.nodes[0]];

  set.start(n1);
  const waiting = await waitFor(
    'n1 to explain that it waits for peers',
    async () => {
      const s = await set.status(n1);
      return s.phase === 'discovering' && /1 of 3 agents authenticated/.test(s.reason) ? s : undefined;
    },
    { timeoutMs: 15_000 },
  );
  t.match(waiting.reason, /127\.0\.42\.12:2390: .*ECONNREFUSED/, 'the reason names the unreachable seed and why');
  const notReady = await fetch(`http://${n1.address}:2391/readyz`);
  t.equal(notReady.status, 503, '/readyz is 503 while forming');
  t.match(await notReady.json(), { reason: /discovering/ });

  await new Promise((r) => setTimeout(r, 10_000));
  set.start(n2);
  await waitFor('n1 to see 2 of 3', async () => /2 of 3 agents authenticated/.test((await set.status(n1)).reason), {
    timeoutMs: 20_000,
    describe: () => set.describe(),
  });
  await new Promise((r) => setTimeout(r, 10_000));
  const stillWaiting = await set.status(n1);
  t.equal(stillWaiting.phase, 'discovering', 'two of three never bootstrap alone');

  set.start(n3);
  await set.waitFormed(set.nodes, 90_000);
  const statuses = await Promise.all(set.nodes.map((n) => set.status(n)));
  t.equal(new Set(statuses.map((s) => s.cluster.id)).size, 1, 'one cluster id');
  const named = await waitCaHolderNamed(() => Promise.all(set.nodes.map((n) => set.status(n))));
  t.equal(new Set(named.map((s) => s.caHolder?.nodeId)).size, 1, 'one CA holder');
  const health = set.etcdctl(n3, ['endpoint', 'health', '--cluster']);
  t.equal(health.status, 0, health.stderr);
  t.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3);
});
