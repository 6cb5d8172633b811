import { open, rename, readFile, mkdir, unlink, chmod } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface WriteOptions {
  /** File mode, applied to the temp file before it is renamed into place. */
  mode?: number;
  /** Mode for parent directories created on the way. */
  dirMode?: number;
}

/**
 * Writes `content` to `path` atomically: temp file in the same directory,
 * fsync, rename, fsync of the directory. A crash leaves either the old file or
 * the new one, never half of either. Returns false (and touches nothing) when
 * the file already holds exactly this content with the requested mode.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Buffer,
  options: WriteOptions = {},
): Promise<boolean> {
  const mode = options.mode ?? 0o644;
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  if (await sameContent(path, data, mode)) return false;

  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: options.dirMode ?? 0o755 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    // open()'s mode is filtered by the umask; set it exactly.
    await handle.chmod(mode);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
  return true;
}

async function sameContent(path: string, data: Buffer, mode: number): Promise<boolean> {
  try {
    const current = await readFile(path);
    if (!current.equals(data)) return false;
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      if ((st.mode & 0o777) !== mode) {
        await chmod(path, mode);
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
