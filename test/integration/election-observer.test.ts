/**
 * The CA-role election's observer names the oldest candidate, also when
 * several candidates enter a vacant election at the same moment. etcd3's own
 * ElectionObserver kept the *last* put of such a burst as the leader and then
 * watched only that key, for good: after the CA maker died, both survivors
 * campaigned when their grace periods ended together, the real leader thought
 * itself elected while every observer named the other, and no member held
 * the role (ca-maker-dies failed in about half of its runs).
 * Real etcd of a one-node agent cluster on loopback (127.0.76.0/24).
 */
import t from 'tap';
import { withClient } from '../../src/etcd/client.js';
import { candidatePrefix, ElectionSession } from '../../src/etcd/election.js';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(300_000);
const set = new NodeSet({ subnet: 76, count: 1, size: 1, token: generateToken(), cluster: 'observer' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

const ELECTION = '/etcd-agent-test/observer/election';
const ROUNDS = 12;

t.test('a burst of candidates into a vacant election: the observer names the oldest, every time', async (t) => {
  const { tls, endpoints } = await set.formAlone();

  const session = await ElectionSession.open({ endpoints, tls, electionKey: ELECTION, ttlSeconds: 10, callTimeoutMs: 5000 });
  t.teardown(() => session.close());
  const seen: (string | undefined)[] = [];
  const failures: string[] = [];
  await session.observe((value) => seen.push(value), (reason) => failures.push(reason));
  t.same(seen, [undefined], 'the first answer: nobody leads');

  const prefix = candidatePrefix(ELECTION);
  const latest = () => seen[seen.length - 1];
  let named = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    // Three candidates at once, each on its own lease, sent without waiting for each other.
    const { leases, oldest } = await withClient(endpoints, tls, 10_000, async (client) => {
      const granted = await Promise.all([1, 2, 3].map(() => client.leaseClient.leaseGrant({ TTL: 30 })));
      await Promise.all(granted.map((l, i) => client.put(`${prefix}${l.ID}`).value(`round ${round} candidate ${i}`).lease(l.ID)));
      const first = await client.getAll().prefix(prefix).sort('Create', 'Ascend').limit(1).strings();
      return { leases: granted.map((l) => l.ID), oldest: Object.values(first)[0] };
    });
    await waitFor(`the observer to name the oldest candidate of round ${round} (${oldest})`, () => latest() === oldest, {
      timeoutMs: 5000,
      intervalMs: 20,
      describe: () => `it names ${String(latest())}; all it saw: ${JSON.stringify(seen.slice(-5))}`,
    });
    // It stays there: no later event moves it to a younger candidate.
    await new Promise((r) => setTimeout(r, 200));
    if (latest() === oldest) named++;
    await withClient(endpoints, tls, 10_000, async (client) => {
      for (const id of leases) await client.leaseClient.leaseRevoke({ ID: id });
    });
    await waitFor(`the observer to see the election vacant after round ${round}`, () => latest() === undefined, { timeoutMs: 5000, intervalMs: 20 });
  }
  t.equal(named, ROUNDS, `the oldest candidate named in all ${ROUNDS} rounds`);
  t.same(failures, [], 'the watch never broke');
  t.ok(session.observing(), 'still observing');
});
