import { chmod, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../../util/atomic-write.js';
import { isTempSnapshotName, newestFirst, parseSnapshotName, snapshotsToPrune, type SnapshotName } from './names.js';

export interface SnapshotFile extends SnapshotName {
  path: string;
  sizeBytes: number;
}

/**
 * The snapshots directory (`snapshots.dir`, 0700: a snapshot holds every key
 * of the cluster). Only files named like snapshots or snapshot temp files are
 * ever listed or removed here.
 */
export class SnapshotDir {
  constructor(readonly dir: string) {}

  async ensure(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  /** Removes temp files a killed agent left behind; returns their names. */
  async removeStaleTemps(): Promise<string[]> {
    const removed: string[] = [];
    for (const file of await this.names()) {
      if (!isTempSnapshotName(file)) continue;
      await unlink(join(this.dir, file)).catch(() => undefined);
      removed.push(file);
    }
    if (removed.length > 0) await syncDir(this.dir);
    return removed;
  }

  /** Every snapshot file in the directory, newest first. */
  async list(): Promise<SnapshotFile[]> {
    const out: SnapshotFile[] = [];
    for (const file of await this.names()) {
      const parsed = parseSnapshotName(file);
      if (!parsed) continue;
      const path = join(this.dir, file);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile()) continue;
      out.push({ ...parsed, path, sizeBytes: st.size });
    }
    return newestFirst(out);
  }

  /** Removes this node's snapshots beyond the newest `keep`; returns the removed files. */
  async prune(cluster: string, node: string, keep: number): Promise<SnapshotFile[]> {
    const doomed = snapshotsToPrune(await this.list(), cluster, node, keep);
    for (const f of doomed) await unlink(f.path).catch(() => undefined);
    if (doomed.length > 0) await syncDir(this.dir);
    return doomed;
  }

  private async names(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}
