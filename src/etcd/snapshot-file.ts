/**
 * What `etcdctl snapshot status` and `snapshot restore` check in a snapshot
 * file, done here so the agent needs no etcdctl to verify what it wrote.
 *
 * A snapshot from etcd's Snapshot API is the bbolt database followed by the
 * SHA-256 of it (32 bytes; etcd pads the database to a multiple of 512, which
 * is how etcdctl tells a snapshot with its hash from a bare db file). The
 * integrity check is that hash plus bbolt's structural check; the revision is
 * the last revision in the `key` bucket.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { describeError } from '../util/errors.js';
import { BoltFormatError, inspectBolt, type BoltSummary } from './bbolt.js';
import { SnapshotInvalid } from './errors.js';

const SHA256_BYTES = 32;

export interface SnapshotInfo extends BoltSummary {
  /** Size of the file (database plus hash). */
  fileSize: number;
  /** The trailing SHA-256 was present and matched ('absent' only when allowed). */
  integrity: 'sha256-ok' | 'absent';
}

/** Whether a file of this size carries etcd's trailing hash (etcdctl's own test). */
export function hasIntegrityHash(size: number): boolean {
  return size % 512 === SHA256_BYTES;
}

/**
 * Verifies `file` and returns what it holds; throws EA_SNAPSHOT_INVALID
 * saying what is wrong. A file without the trailing hash (a db file copied out
 * of a data dir) passes only with `allowNoHash`.
 */
export async function verifySnapshot(file: string, options: { allowNoHash?: boolean } = {}): Promise<SnapshotInfo> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw SnapshotInvalid(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : describeError(err));
  }
  if (!st.isFile()) throw SnapshotInvalid(file, 'it is not a regular file');
  const size = st.size;
  const hashed = hasIntegrityHash(size);
  if (!hashed && !options.allowNoHash) {
    throw SnapshotInvalid(
      file,
      `it has no integrity hash (its size, ${size} bytes, is not a multiple of 512 plus 32): it was not made by etcd's snapshot API (etcd-agent snapshot save, etcdctl snapshot save) or it was cut short`,
    );
  }
  const dbSize = hashed ? size - SHA256_BYTES : size;
  if (hashed) {
    const [want, got] = await Promise.all([readTail(file, size), sha256Of(file, dbSize)]);
    if (!want.equals(got)) throw SnapshotInvalid(file, 'its SHA-256 integrity hash does not match its content (the file is damaged)');
  }
  let summary: BoltSummary;
  try {
    summary = await inspectBolt(file, dbSize);
  } catch (err) {
    if (err instanceof BoltFormatError) throw SnapshotInvalid(file, err.message);
    throw SnapshotInvalid(file, describeError(err));
  }
  if (hashed && summary.totalSize !== dbSize) {
    throw SnapshotInvalid(file, `its database says it is ${summary.totalSize} bytes, but ${dbSize} bytes precede the hash`);
  }
  return { ...summary, fileSize: size, integrity: hashed ? 'sha256-ok' : 'absent' };
}

async function readTail(file: string, size: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(SHA256_BYTES);
    await handle.read(buf, 0, SHA256_BYTES, size - SHA256_BYTES);
    return buf;
  } finally {
    await handle.close();
  }
}

async function sha256Of(file: string, length: number): Promise<Buffer> {
  const hash = createHash('sha256');
  if (length === 0) return hash.digest();
  for await (const chunk of createReadStream(file, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
  return hash.digest();
}
