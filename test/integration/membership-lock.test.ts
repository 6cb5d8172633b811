/**
 * The membership lock a member left behind takes it no 20 s to get back.
 * Found by the partition-join trial (seed 14600): etcd refused an add-learner
 * as Unavailable ("not healthy for reconfigure") right after a heal, the etcd
 * client then refused the lock's lease revoke too, and every member, the one
 * that had held it included, waited for the lease to run out ("another member
 * holds the membership lock (<itself>)"). Now a caller that names itself the
 * same way each time (the membership controller, `reclaimOwn`) takes its own
 * stale lock over; anyone else's lock, and the same name without
 * `reclaimOwn`, still waits.
 * Real etcd of a one-node agent cluster on loopback (127.0.69.0/24).
 */
import t from 'tap';
import { clusterKeys } from '../../src/etcd/keys.js';
import { withClient } from '../../src/etcd/client.js';
import { withMembershipLock } from '../../src/etcd/records.js';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';

t.setTimeout(300_000);
const set = new NodeSet({ subnet: 69, count: 1, size: 1, token: generateToken(), cluster: 'locks' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

t.test('a stale membership lock of the same holder is taken over only with reclaimOwn', async (t) => {
  const { tls, endpoints } = await set.formAlone();
  const target = { endpoints, tls, timeoutMs: 10_000 };
  const key = clusterKeys('locks').membershipLock;
  const me = 'n1 (aaaa)';

  // What a failed revoke leaves: the lock key on a lease of 60 s that nobody revokes.
  const leaveStale = (holder: string) =>
    withClient(target.endpoints, tls, 10_000, async (client) => {
      const lease = await client.leaseClient.leaseGrant({ TTL: 60 });
      await client.put(key).value(holder).lease(lease.ID);
    });

  await leaveStale(me);
  const without = await withMembershipLock(target, 'locks', me, 20, async () => 'ran');
  t.same(without, { acquired: false, holder: me }, 'without reclaimOwn: the lock waits for its lease, even with the same name');

  const reclaimed = await withMembershipLock(target, 'locks', me, 20, async () => 'ran', { reclaimOwn: true });
  t.same(reclaimed, { acquired: true, value: 'ran' }, 'with reclaimOwn: its own stale lock is taken over at once');
  const after = await withClient(target.endpoints, tls, 10_000, (client) => client.get(key).string());
  t.equal(after, null, 'and released afterwards');

  await leaveStale('n2 (bbbb)');
  const other = await withMembershipLock(target, 'locks', me, 20, async () => 'ran', { reclaimOwn: true });
  t.same(other, { acquired: false, holder: 'n2 (bbbb)' }, "another member's lock is never taken over");
});
