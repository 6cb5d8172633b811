import { copyFile, mkdir, readdir, rename, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncDir } from '../../util/atomic-write.js';
import { compactTime } from '../snapshots/names.js';

/**
 * Data and state are never deleted on an inference: what a restore or a
 * superseded member no longer uses is renamed beside where it was, with a
 * tag and the time, for an operator to look at and remove.
 */
export function asideStamp(at = new Date()): string {
  return compactTime(at);
}

/**
 * Renames the etcd data dir to `<dataDir>.<tag>-<stamp>` and returns that
 * path; undefined when there is no data dir or it is empty (an empty one is
 * removed: there is nothing to keep).
 */
export async function setAsideDataDir(dataDir: string, tag: string, stamp: string): Promise<string | undefined> {
  const st = await stat(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return undefined;
  if (st.isDirectory() && (await readdir(dataDir)).length === 0) {
    await rmdir(dataDir);
    return undefined;
  }
  const aside = `${dataDir}.${tag}-${stamp}`;
  await rename(dataDir, aside);
  await syncDir(dirname(dataDir));
  return aside;
}

/**
 * Puts the named files of the state dir into `<stateDir>/<tag>-<stamp>/`
 * (0700): copied when the caller rewrites them next, moved otherwise. Files
 * that do not exist are skipped. Returns the directory.
 */
export async function setAsideStateFiles(stateDir: string, files: string[], tag: string, stamp: string, how: 'copy' | 'move'): Promise<string> {
  const dir = join(stateDir, `${tag}-${stamp}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const file of files) {
    const from = join(stateDir, file);
    const to = join(dir, basename(file));
    try {
      if (how === 'copy') await copyFile(from, to);
      else await rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  await syncDir(dir);
  await syncDir(stateDir);
  return dir;
}
