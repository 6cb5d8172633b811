/**
 * Catalogue: hostile certificate requests, through the CA holder's own
 * signing path (parse, policy, sign) with a real CA. Each is refused with
 * EA_PKI_CSR_INVALID or EA_PKI_CSR_REJECTED and a message naming the
 * problem; nothing is signed and the holder's state dir does not change.
 */
import t from 'tap';
import { CaHolder } from '../../src/agent/bootstrap/ca-holder.js';
import { StateStore } from '../../src/agent/bootstrap/state-store.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir, viewMember } from '../helpers/fixtures.js';
import { CSR_CASES, good, goodClient, identity, me } from './csr-cases.js';
import { snapshotTree, treeChanges } from './catalogue.js';

t.test(`${CSR_CASES.length} hostile CSRs are refused by the CA holder, nothing signed or written`, async (t) => {
  const dir = tempDir(t, 'ea-hostile-csr-');
  const store = new StateStore(dir);
  await store.init();
  const holder = await CaHolder.open(store, [viewMember(1), me], { clusterName: 'unit', certValidityMs: 30 * 86_400_000, caValidityDays: 365 }, silentLogger());
  t.ok(holder.sign(identity, { nodeCsr: good, clientCsr: goodClient }).certificate, 'the same holder signs the well-formed request');
  const before = await snapshotTree(dir);
  for (const c of CSR_CASES) {
    await t.test(c.name, async (t) => {
      let caught: unknown;
      try {
        holder.sign(identity, { nodeCsr: c.nodeCsr ?? good, clientCsr: c.clientCsr ?? goodClient });
      } catch (err) {
        caught = err;
      }
      const err = caught as { code?: string; message?: string } | undefined;
      t.ok(err?.code === 'EA_PKI_CSR_INVALID' || err?.code === 'EA_PKI_CSR_REJECTED', `refused with a CSR code (got ${String(err?.code)}: ${String(err?.message)})`);
      t.ok(err?.message?.includes(c.says), `message names ${JSON.stringify(c.says)}: ${String(err?.message)}`);
    });
  }
  t.same(treeChanges(before, await snapshotTree(dir)), [], 'the holder state dir is unchanged');
});
