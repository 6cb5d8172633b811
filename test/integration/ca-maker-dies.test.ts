/**
 * The member that made the CA dies for good right after the cluster formed,
 * before its first CA-role election round. The other members must still be
 * able to take the CA role: the maker seals the CA key escrow before it calls
 * the cluster formed. Found by the kill-replace trial (seed 5006): the maker
 * died a few seconds after formation, before its first election round had
 * sealed the escrow, and no member could ever sign again (joins and renewals
 * stopped for good).
 * Real etcd and agents on loopback (127.0.64.0/24).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { clusterKeys } from '../../src/etcd/keys.js';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(600_000);
const CLUSTER = 'maker';
const set = new NodeSet({ subnet: 64, count: 3, token: generateToken(), cluster: CLUSTER });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

t.test('the CA maker dies for good right after formation: another member takes the CA role from the escrow', async (t) => {
  await set.init();
  for (const n of set.nodes) set.start(n);
  const maker = await waitFor('the CA maker to report formed', async () => {
    for (const n of set.nodes) {
      if (!existsSync(join(n.root, 'var', 'lib', 'etcd-agent', 'ca.key'))) continue;
      const s = await set.status(n).catch(() => undefined);
      if (s?.phase === 'formed') return n;
    }
    return undefined;
  }, { timeoutMs: 120_000, intervalMs: 100, describe: () => set.describe() });
  const escrowKey = clusterKeys(CLUSTER).caEscrow;
  const escrow = set.etcdctl(maker, ['get', escrowKey, '--print-value-only']);
  t.ok(escrow.status === 0 && escrow.stdout.trim().length > 0, `the escrow (${escrowKey}) is in etcd as soon as the maker ${maker.name} reports formed`);

  // The maker's host dies for good: agent and etcd.
  const etcdPid = set.etcdPid(maker);
  await set.stop(maker, 'SIGKILL');
  if (etcdPid !== undefined) {
    try {
      process.kill(etcdPid, 'SIGKILL');
    } catch {
      // gone with its agent
    }
  }
  const others = set.nodes.filter((n) => n !== maker);
  await set.waitFormed(others, 90_000);
  const status = await waitFor('another member to hold the CA role', async () => {
    for (const n of others) {
      const s = await set.status(n).catch(() => undefined);
      if (s?.caRole?.state === 'holder') return s;
    }
    return undefined;
  }, { timeoutMs: 90_000, intervalMs: 500, describe: () => set.describe(others) });
  t.not(status.node.name, maker.name);
  t.equal(status.caRole?.keySource, 'escrow', `${status.node.name} signs with the CA key from the escrow`);
  // Each member learns of the new holder from its own watch of the election: bounded wait, not an instant.
  const seen = await waitFor(`both members to name ${status.node.name} as the CA holder`, async () => {
    const names = await Promise.all(others.map(async (n) => (await set.status(n).catch(() => undefined))?.caHolder?.name));
    return names.every((name) => name === status.node.name) ? names : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250, describe: () => set.describe(others) });
  t.same(seen, others.map(() => status.node.name), `${others.map((n) => n.name).join(' and ')} name ${status.node.name} as the CA holder`);
});
