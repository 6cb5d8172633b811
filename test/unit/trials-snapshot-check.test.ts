/**
 * trials/snapshot-check.ts: a snapshot file that does not verify is a named
 * violation; the agent's temp files (`.snapshot-<random>.partial`) and an
 * absent snapshots dir are not. (A snapshot that verifies needs a real etcd:
 * the disk-full trial and test/integration/snapshots.test.ts cover that side.)
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrialNode } from '../../trials/access.js';
import { snapshotsDir, snapshotsIntact } from '../../trials/snapshot-check.js';
import { tempDir } from '../helpers/fixtures.js';

function fakeNode(root: string): TrialNode {
  return {
    name: 'n1',
    root,
    logFiles: () => [],
    get: () => Promise.resolve({ status: 200, body: '{}' }),
    etcdctl: () => Promise.resolve({ code: 1, stdout: '', stderr: 'no etcd here' }),
    pids: () => [],
  };
}

t.test('no snapshots dir, or only temp files: nothing to find wrong', async (t) => {
  const root = tempDir(t, 'trials-snap-');
  t.ok((await snapshotsIntact([fakeNode(root)])).ok, 'absent dir');
  mkdirSync(snapshotsDir(root), { recursive: true });
  writeFileSync(join(snapshotsDir(root), '.snapshot-0123456789abcdef.partial'), 'half a snapshot');
  const r = await snapshotsIntact([fakeNode(root)]);
  t.ok(r.ok, r.detail);
  t.match(r.detail, /1 temp file\(s\) ignored/);
});

t.test('a cut-short snapshot under a final name is a violation naming the file', async (t) => {
  const root = tempDir(t, 'trials-snap-');
  mkdirSync(snapshotsDir(root), { recursive: true });
  const name = 'trial_n1_20260102T030405.123Z_rev48.db';
  writeFileSync(join(snapshotsDir(root), name), Buffer.alloc(4096 + 32, 1));
  const r = await snapshotsIntact([fakeNode(root)]);
  t.equal(r.name, 'snapshots-intact');
  t.notOk(r.ok);
  t.match(r.detail, name);
});
