/**
 * What is in etcd's data dir, and moving it aside. etcd keeps everything in
 * `<dataDir>/member` (wal/ and snap/); without it, etcd would start a member
 * from nothing. A formed node whose data dir has no `member` dir was wiped
 * (disk replaced, directory emptied): starting etcd there — as `new` or as
 * `existing` under its old member id — would either bootstrap a second
 * cluster or panic on a raft log it no longer has (kops#9264,
 * etcd-manager#288). Data that cannot be used is moved aside, never
 * deleted: it may be the last copy of something.
 */
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readFileIfExists, syncDir, writeFileAtomic } from '../../util/atomic-write.js';

export type DataDirState =
  | { kind: 'absent' }
  /** Exists, but holds no etcd member data (empty, or only e.g. lost+found or data moved aside). */
  | { kind: 'empty'; entries: string[] }
  | { kind: 'data'; entries: string[] }
  /** Something that is not a directory is in its place. */
  | { kind: 'not-a-directory' };

/** Entries moved aside inside the data dir itself (when it is a mount point) start with this. */
export const ASIDE_ENTRY_PREFIX = 'etcd-agent-aside-';

/**
 * The agent's claim, inside the data dir itself: which cluster and node name
 * this data belongs to. etcd ignores the file (it warns about an unknown
 * entry). It is what lets a reinstalled agent whose state dir was lost tell
 * its own earlier data (moved aside when the cluster re-admits it) from data
 * it never made (refused, as always).
 */
export const CLAIM_FILE = 'etcd-agent-claim.json';

export interface DataDirClaim {
  cluster: string;
  name: string;
  claimedAt: string;
}

/** Entries that hold no etcd data of anyone: a fresh filesystem's lost+found, data we moved aside, our claim. */
export function isInertEntry(name: string): boolean {
  return name === 'lost+found' || name === CLAIM_FILE || name.startsWith(ASIDE_ENTRY_PREFIX);
}

export async function writeDataDirClaim(dir: string, claim: DataDirClaim): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(dir, CLAIM_FILE), `${JSON.stringify(claim, null, 2)}\n`, { mode: 0o600 });
}

/** The claim in the data dir, or undefined when there is none or it is unreadable (then the data is not known to be ours). */
export async function readDataDirClaim(dir: string): Promise<DataDirClaim | undefined> {
  let text: string | undefined;
  try {
    text = await readFileIfExists(join(dir, CLAIM_FILE));
  } catch {
    return undefined;
  }
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<DataDirClaim>;
    if (typeof v.cluster !== 'string' || typeof v.name !== 'string' || typeof v.claimedAt !== 'string') return undefined;
    return { cluster: v.cluster, name: v.name, claimedAt: v.claimedAt };
  } catch {
    return undefined;
  }
}

export async function inspectDataDir(dir: string): Promise<DataDirState> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  if (!isDir) return { kind: 'not-a-directory' };
  const entries = (await readdir(dir)).sort();
  return entries.includes('member') ? { kind: 'data', entries } : { kind: 'empty', entries };
}

/** `2024-05-01T10-00-00-000Z`: sortable, and no character a path or systemd would mind. */
function stamp(now: Date): string {
  return now.toISOString().replace(/[:.]/g, '-');
}

/**
 * Renames the data dir to `<dataDir>.aside-<why>-<time>` beside it and
 * returns the new path (undefined when there was nothing to move). When the
 * data dir is a mount point (rename fails with EBUSY), its entries move into
 * `<dataDir>/etcd-agent-aside-<why>-<time>/` instead, on the same
 * filesystem; etcd ignores that directory. Nothing is ever deleted.
 */
export async function moveDataDirAside(dir: string, why: string, now = new Date()): Promise<string | undefined> {
  const state = await inspectDataDir(dir);
  if (state.kind === 'absent') return undefined;
  if (state.kind === 'empty' && state.entries.every(isInertEntry)) return undefined;
  const aside = `${dir}.aside-${why}-${stamp(now)}`;
  try {
    await rename(dir, aside);
    await syncDir(dirname(dir));
    return aside;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'EBUSY' && code !== 'EXDEV') || state.kind === 'not-a-directory') throw err;
  }
  // A mount point cannot be renamed: move what is inside instead.
  const inside = join(dir, `${ASIDE_ENTRY_PREFIX}${why}-${stamp(now)}`);
  await mkdir(inside, { mode: 0o700 });
  for (const entry of state.entries.filter((e) => !isInertEntry(e))) await rename(join(dir, entry), join(inside, basename(entry)));
  await syncDir(inside);
  await syncDir(dir);
  return inside;
}
