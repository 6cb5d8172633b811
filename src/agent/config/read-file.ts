import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/**
 * Reads a small regular file (the config, the token file) without trusting
 * what is at the path: anything but a regular file is refused before it is
 * opened (a FIFO would block the open until some writer appears, a device
 * could be endless), and a file larger than the limit is refused from its
 * size and never read past the limit (it may grow while being read).
 */

export type SmallFileRead =
  | { ok: true; content: string; mode: number }
  /** `code` is the errno code, or ENOTFILE (what `kind` says it is) or EFBIG (larger than `limit`). */
  | { ok: false; code: string; message: string; kind?: string; limit?: number };

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function failure(err: unknown): SmallFileRead {
  const e = err as NodeJS.ErrnoException;
  return { ok: false, code: e.code ?? 'EIO', message: e.message };
}

function refuse(path: string, st: Stats, maxBytes: number): SmallFileRead | undefined {
  if (!st.isFile()) {
    const kind = fileKind(st);
    return { ok: false, code: 'ENOTFILE', kind, message: `${path} is ${kind}, not a regular file` };
  }
  if (st.size > maxBytes) return tooLarge(path, maxBytes);
  return undefined;
}

function tooLarge(path: string, maxBytes: number): SmallFileRead {
  return { ok: false, code: 'EFBIG', limit: maxBytes, message: `${path} is larger than ${maxBytes} bytes` };
}

/** Synchronous on purpose: the config is read once at start-up, and the validator that reads the token file is synchronous. */
export function readSmallRegularFile(path: string, maxBytes: number): SmallFileRead {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    return failure(err);
  }
  const before = refuse(path, st, maxBytes);
  if (before !== undefined) return before;

  // The path may have been swapped for a FIFO since the stat: O_NONBLOCK makes
  // that open return at once instead of hanging, and fstat below tells.
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return failure(err);
  }
  try {
    const opened = fstatSync(fd);
    const after = refuse(path, opened, maxBytes);
    if (after !== undefined) return after;
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) return tooLarge(path, maxBytes);
    }
    return { ok: true, content: buf.subarray(0, length).toString('utf8'), mode: opened.mode & 0o7777 };
  } catch (err) {
    return failure(err);
  } finally {
    closeSync(fd);
  }
}
