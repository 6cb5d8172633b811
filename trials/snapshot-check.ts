/**
 * The `snapshots-intact` invariant: every finished snapshot file in every
 * node's snapshots dir verifies the way the agent and `etcd-agent restore`
 * verify one (etcd's trailing SHA-256, then bbolt's structure). The agent's
 * temporary names are skipped (a kill -9 mid-snapshot may leave one; the
 * agent's own clean-up is a separate matter) and counted in the evidence.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verifySnapshot } from '../src/etcd/snapshot-file.js';
import { isTempSnapshotName, parseSnapshotName } from '../src/agent/snapshots/names.js';
import type { StatusReport } from '../src/agent/status/model.js';
import type { TrialNode } from './access.js';
import type { InvariantResult } from './record.js';

export async function snapshotsIntact(nodes: TrialNode[]): Promise<InvariantResult> {
  const name = 'snapshots-intact';
  const bad: string[] = [];
  const seen: string[] = [];
  for (const n of nodes) {
    let dir: string;
    try {
      dir = (JSON.parse((await n.get('/status')).body) as StatusReport).snapshots.dir;
    } catch (err) {
      bad.push(`${n.name}: no status to find the snapshots dir (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch (err) {
      bad.push(`${n.name}: ${dir} unreadable (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    const temps = files.filter(isTempSnapshotName).length;
    const finished = files.filter((f) => parseSnapshotName(f) !== undefined);
    let pruned = 0;
    for (const f of finished) {
      try {
        await verifySnapshot(join(dir, f));
      } catch (err) {
        // The agent keeps taking (and pruning, snapshots.keep) while this runs: a file gone since the listing was pruned, not damaged.
        if (!existsSync(join(dir, f))) pruned++;
        else bad.push(`${n.name}: ${f}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    seen.push(`${n.name}: ${finished.length - pruned} snapshot(s) verified${pruned > 0 ? `, ${pruned} pruned while checking` : ''}${temps > 0 ? `, ${temps} temporary file(s)` : ''}`);
  }
  return { name, ok: bad.length === 0, detail: bad.length === 0 ? seen.join('; ') : bad.join('; ') };
}
