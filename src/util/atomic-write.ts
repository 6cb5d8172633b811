import { open, rename, readFile, mkdir, unlink, chmod, stat, lstat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { defineError, describeError, type AgentError } from './errors.js';

/** Why the filesystem refused a write, from its errno, in words for a message. */
export interface WriteProblem {
  code: 'EA_DISK_FULL' | 'EA_FILE_NOT_WRITABLE';
  /** "the filesystem holding DIR is full (ENOSPC: no space left on device, write)" */
  why: string;
  /** What the operator does about it: "free space on the filesystem holding DIR (...)". */
  action: string;
}

/**
 * What a failed write's errno says about the filesystem holding `dir`:
 * full (ENOSPC) or over quota (EDQUOT): EA_DISK_FULL; read-only (EROFS) or
 * refused (EACCES, EPERM): EA_FILE_NOT_WRITABLE. Undefined for anything else.
 * The errno text stays in `why`.
 */
export function writeProblem(err: unknown, dir: string): WriteProblem | undefined {
  if (!(err instanceof Error)) return undefined;
  const errno = (err as NodeJS.ErrnoException).code;
  const text = describeError(err);
  switch (errno) {
    case 'ENOSPC':
      return { code: 'EA_DISK_FULL', why: `the filesystem holding ${dir} is full (${text})`, action: `free space on the filesystem holding ${dir} (\`df -h ${dir}\`)` };
    case 'EDQUOT':
      return {
        code: 'EA_DISK_FULL',
        why: `the disk quota on the filesystem holding ${dir} is used up (${text})`,
        action: `free space on the filesystem holding ${dir}, or raise the quota (\`quota\`, \`df -h ${dir}\`)`,
      };
    case 'EROFS':
      return { code: 'EA_FILE_NOT_WRITABLE', why: `the filesystem holding ${dir} is mounted read-only (${text})`, action: `remount the filesystem holding ${dir} read-write` };
    case 'EACCES':
    case 'EPERM':
      return {
        code: 'EA_FILE_NOT_WRITABLE',
        why: `writing in ${dir} was refused (${text})`,
        action: `run etcd-agent as root, and check the owner, mode and attributes of ${dir} (\`ls -ld ${dir}\`, \`lsattr -d ${dir}\`)`,
      };
    default:
      return undefined;
  }
}

const writeFailedMessage = (file: string, problem: WriteProblem, outcome: string): string =>
  `cannot write ${file}: ${problem.why}; ${outcome} — ${problem.action}; the agent retries by itself, a command must be run again`;

/** A write the filesystem had no room for (ENOSPC, EDQUOT). */
export const DiskFull = defineError('EA_DISK_FULL', writeFailedMessage);
/** A write the filesystem refused (EROFS, EACCES, EPERM). */
export const FileNotWritable = defineError('EA_FILE_NOT_WRITABLE', writeFailedMessage);

export interface WriteOptions {
  /** File mode, applied to the temp file before it is renamed into place. */
  mode?: number;
  /** Mode for parent directories created on the way. */
  dirMode?: number;
  /**
   * For a file written again and again with the same content (every tick):
   * when the memo saw this path hold exactly this content and mode, and the
   * file's stat has not changed since, the file is not read again. Any
   * difference (content to write, mode, size, mtime, ctime, inode, a missing
   * file) falls back to the full read-and-compare, and to the write.
   */
  memo?: WriteMemo;
}

/**
 * A file's stat looked at within this long of its last change is not
 * remembered: a write in the same timestamp granule (a jiffy; a second on
 * coarse filesystems) after the look could leave size and times as they were.
 */
const RACY_MS = 1000;

interface Verified {
  /** sha256 of the content found (and wanted), and the mode asked for. */
  digest: string;
  mode: number;
  /** The file's dev, ino, size, mode, mtime and ctime (ns) when its content was found equal. */
  stat: string;
}

function statKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mode}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * What writeFileAtomic found, per path, the last time it compared a file
 * with what it would write (see WriteOptions.memo). Holds digests, never
 * contents. One memo per owner of a fixed set of files.
 */
export class WriteMemo {
  private readonly verified = new Map<string, Verified>();

  /** `now`: the wall clock, against the files' ctime (tests move it). */
  constructor(private readonly now: () => number = Date.now) {}

  /** The file at `path` still is what it was when found to hold `digest` with `mode` (a stat, no read). */
  async unchanged(path: string, digest: string, mode: number): Promise<boolean> {
    const known = this.verified.get(path);
    if (known === undefined || known.digest !== digest || known.mode !== mode) return false;
    const st = await stat(path, { bigint: true }).catch(() => undefined);
    if (st !== undefined && statKey(st) === known.stat) return true;
    this.verified.delete(path);
    return false;
  }

  /** The time to pass to remember(), taken before the file is opened. */
  clock(): number {
    return this.now();
  }

  /** `path` was read at `checkedAt` (ms, before it was opened) and held `digest` with exactly `mode`, as `st` says. */
  remember(path: string, digest: string, mode: number, st: BigIntStats, checkedAt: number): void {
    if (Number(st.ctimeNs / 1_000_000n) + RACY_MS > checkedAt) {
      this.verified.delete(path);
      return;
    }
    this.verified.set(path, { digest, mode, stat: statKey(st) });
  }

  forget(path: string): void {
    this.verified.delete(path);
  }
}

function digestOf(data: Buffer): string {
  return createHash('sha256').update(data).digest('base64');
}

/**
 * Writes `content` to `path` atomically: temp file in the same directory,
 * fsync, rename, fsync of the directory. A crash leaves either the old file or
 * the new one, never half of either. Returns false (and touches nothing) when
 * the file already holds exactly this content with the requested mode.
 *
 * A full disk or quota (ENOSPC, EDQUOT) throws EA_DISK_FULL, a read-only
 * filesystem or a refusal (EROFS, EACCES, EPERM) EA_FILE_NOT_WRITABLE: each
 * names the file and its directory, says that the old file was left as it was
 * and the temp file removed, and keeps the errno text. Other failures are
 * thrown as they come; in every case the temp file is removed first.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Buffer,
  options: WriteOptions = {},
): Promise<boolean> {
  const mode = options.mode ?? 0o644;
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const memo = options.memo;
  const digest = memo === undefined ? undefined : digestOf(data);
  if (memo !== undefined && digest !== undefined && (await memo.unchanged(path, digest, mode))) return false;
  if (await sameContent(path, data, mode, memo === undefined || digest === undefined ? undefined : { memo, digest })) return false;
  // Found different (or absent): the next call compares again, after the write.
  memo?.forget(path);

  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: options.dirMode ?? 0o755 });
    await writeTemp(tmp, data, mode);
    // The only step that touches `path`; until it succeeds the old file is as it was.
    await rename(tmp, path);
  } catch (err) {
    const tempRemoved = await removeTemp(tmp);
    throw await writeFailed(path, tmp, tempRemoved, err);
  }
  await syncDir(dir);
  return true;
}

/** The temp file, written and fsynced, then closed; a failure of any step (close included) is thrown. */
async function writeTemp(tmp: string, data: Buffer, mode: number): Promise<void> {
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    // open()'s mode is filtered by the umask; set it exactly.
    await handle.chmod(mode);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  // Some filesystems (NFS) report a failed write-back only here.
  await handle.close();
}

/** True when the temp file is gone (removed now, or never created: a read-only filesystem refuses even that unlink). */
async function removeTemp(tmp: string): Promise<boolean> {
  try {
    await unlink(tmp);
    return true;
  } catch {
    return lstat(tmp).then(
      () => false,
      (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT',
    );
  }
}

/**
 * A failed write as the operator should see it: EA_DISK_FULL or
 * EA_FILE_NOT_WRITABLE naming the file, its directory, what became of the
 * old file and the temp file, and what to do; the errno error as cause.
 * Any other failure is returned as it was.
 */
async function writeFailed(path: string, tmp: string, tempRemoved: boolean, err: unknown): Promise<unknown> {
  const problem = writeProblem(err, dirname(path));
  if (problem === undefined) return err;
  // `path` is only ever replaced by the rename, which did not happen: whatever is there now was there before.
  const existed = await stat(path).then(() => true, () => false);
  const kept = existed ? `the existing ${path} was left unchanged` : `${path} was not created`;
  const outcome = tempRemoved ? `${kept} and no temp file was left` : `${kept}, but its temp file ${tmp} could not be removed (delete it)`;
  const error: AgentError = (problem.code === 'EA_DISK_FULL' ? DiskFull : FileNotWritable)(path, problem, outcome);
  error.cause = err;
  return error;
}

/**
 * Whether `path` holds exactly `data` (a wrong mode is corrected). With a
 * memo, a file found equal and with the right mode is remembered by its stat,
 * taken on the same open file before it was read.
 */
async function sameContent(path: string, data: Buffer, mode: number, memo?: { memo: WriteMemo; digest: string }): Promise<boolean> {
  try {
    const checkedAt = memo?.memo.clock() ?? 0;
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat({ bigint: true });
      const current = await handle.readFile();
      if (!current.equals(data)) return false;
      if ((Number(st.mode) & 0o777) !== mode) {
        await chmod(path, mode);
      } else {
        memo?.memo.remember(path, memo.digest, mode, st, checkedAt);
      }
    } finally {
      await handle.close();
    }
    return true;
  } catch {
    return false;
  }
}

/** fsync of a directory, so a rename in it survives a power loss; best effort. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** Reads a file, or returns undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
