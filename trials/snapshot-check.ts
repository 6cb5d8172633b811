/**
 * The snapshots-intact check: every completed snapshot file in each node's
 * snapshots dir verifies the way the agent verifies what it writes
 * (src/etcd/snapshot-file.ts: trailing SHA-256 and bbolt structure). Files
 * are listed the way the agent lists them (src/agent/snapshots/directory.ts):
 * only names of completed snapshots; the agent's hidden temp files
 * (`.snapshot-<random>.partial`, names.ts) are never read, only counted.
 *
 * Meant for checkAll (the lead wires it); it runs while the agents still run,
 * so a file that retention removed between the listing and its check is
 * skipped, not a violation.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotDir } from '../src/agent/snapshots/directory.js';
import { isTempSnapshotName } from '../src/agent/snapshots/names.js';
import { verifySnapshot } from '../src/etcd/snapshot-file.js';
import { stateDir, type TrialNode } from './access.js';
import type { InvariantResult } from './record.js';

/** The default `snapshots.dir` of a node (<root>/var/lib/etcd-agent/snapshots); the trials never set another. */
export const snapshotsDir = (root: string): string => join(stateDir(root), 'snapshots');

export async function snapshotsIntact(nodes: TrialNode[], dirOf: (n: TrialNode) => string = (n) => snapshotsDir(n.root)): Promise<InvariantResult> {
  const name = 'snapshots-intact';
  try {
    const bad: string[] = [];
    const counts: string[] = [];
    for (const n of nodes) {
      const dir = dirOf(n);
      const files = await new SnapshotDir(dir).list();
      let verified = 0;
      let gone = 0;
      for (const f of files) {
        try {
          await verifySnapshot(f.path);
          verified++;
        } catch (err) {
          if (!existsSync(f.path)) {
            gone++;
            continue;
          }
          bad.push(`${n.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const temps = existsSync(dir) ? readdirSync(dir).filter(isTempSnapshotName).length : 0;
      counts.push(`${n.name}: ${verified} verified${gone ? `, ${gone} pruned meanwhile` : ''}${temps ? `, ${temps} temp file(s) ignored` : ''}`);
    }
    return { name, ok: bad.length === 0, detail: bad.length > 0 ? bad.join('; ') : counts.join('; ') };
  } catch (err) {
    return { name, ok: false, detail: `the check could not run: ${err instanceof Error ? err.message : String(err)}` };
  }
}
