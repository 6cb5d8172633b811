/**
 * On the first start after a restore, the agent revokes the leases on its own
 * keys that came along in the snapshot (lineage.ts): etcd revives them for a
 * full TTL, and the old cluster's CA-role candidates would name a gone host as
 * CA holder. The users' leased keys must survive it.
 * Real etcd of a one-node agent cluster on loopback (127.0.78.0/24).
 */
import t from 'tap';
import { withClient } from '../../src/etcd/client.js';
import { revokeLeasesUnder } from '../../src/etcd/lineage.js';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';

t.setTimeout(240_000);
const set = new NodeSet({ subnet: 78, count: 1, size: 1, token: generateToken(), cluster: 'leases' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

// A prefix of its own: the running agent's real keys (its CA-role candidate) are not this test's.
const PREFIX = '/etcd-agent-test/restored/';

t.test("revokeLeasesUnder ends the leases of the keys under the prefix and leaves the users' alone", async (t) => {
  const { tls, endpoints } = await set.formAlone();
  const leaseIds = await withClient(endpoints, tls, 10_000, async (client) => {
    const [a, b, user] = await Promise.all([1, 2, 3].map(() => client.leaseClient.leaseGrant({ TTL: 60 })));
    await client.put(`${PREFIX}ca/election/${a!.ID}`).value('old candidate').lease(a!.ID);
    await client.put(`${PREFIX}ca/election/${b!.ID}`).value('another old candidate').lease(b!.ID);
    await client.put(`${PREFIX}membership/lock`).value('old holder').lease(b!.ID);
    await client.put(`${PREFIX}size`).value('3');
    await client.put('app/session').value('a user key on a lease').lease(user!.ID);
    return { a: a!.ID, b: b!.ID, user: user!.ID };
  });

  const revoked = await revokeLeasesUnder(endpoints[0]!, tls, PREFIX, 10_000);
  t.equal(revoked, 2, 'two leases under the prefix (one of them on two keys)');

  await withClient(endpoints, tls, 10_000, async (client) => {
    t.same(await client.getAll().prefix(PREFIX).keys(), [`${PREFIX}size`], 'only the key without a lease is left under the prefix');
    t.equal(await client.get('app/session').string(), 'a user key on a lease', "the user's leased key is there");
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: leaseIds.user });
    t.ok(Number(ttl.TTL) > 0, `the user's lease lives (TTL ${ttl.TTL} s)`);
    const gone = await client.leaseClient.leaseTimeToLive({ ID: leaseIds.a });
    t.equal(Number(gone.TTL), -1, 'a revoked lease is gone');
  });

  t.equal(await revokeLeasesUnder(endpoints[0]!, tls, PREFIX, 10_000), 0, 'again: nothing left to revoke');
});
