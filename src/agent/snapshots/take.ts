import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdTls } from '../../etcd/client.js';
import { streamSnapshot } from '../../etcd/snapshot.js';
import { verifySnapshot, type SnapshotInfo } from '../../etcd/snapshot-file.js';
import { syncDir } from '../../util/atomic-write.js';
import { defineError, describeError, isAgentError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';

export const SnapshotFailed = defineError(
  'EA_SNAPSHOT_FAILED',
  (what: string, why: string) => `${what} failed: ${why}; no partial file was left and no older snapshot was removed`,
);

export interface SnapshotSource {
  /** The local member's client URL. */
  endpoint: string;
  /** The node's admin client certificate. */
  tls: EtcdTls;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface SnapshotTarget {
  dir: string;
  /** Hidden name the snapshot has while it is written. */
  tempName: string;
  /** The final name, once the written file verified (it may depend on the revision). */
  finalName(info: SnapshotInfo): string;
  /** For messages: "scheduled snapshot", "snapshot save". */
  what: string;
}

export interface WrittenSnapshot {
  path: string;
  info: SnapshotInfo;
  durationMs: number;
}

/** A random temp-name suffix. */
export function randomSuffix(): string {
  return randomBytes(8).toString('hex');
}

/**
 * One snapshot, the way nothing half-done is ever seen under a snapshot's
 * name: streamed from the member into a hidden temp file (0600) in the
 * target directory, fsynced, verified from disk (SHA-256 and bbolt structure,
 * as etcdctl does), then renamed into place and the directory fsynced. On any
 * failure the temp file is removed and the error (EA_SNAPSHOT_FAILED) says
 * why; an existing file under the final name is only ever replaced whole.
 */
export async function writeVerifiedSnapshot(source: SnapshotSource, target: SnapshotTarget): Promise<WrittenSnapshot> {
  const started = Date.now();
  const temp = join(target.dir, target.tempName);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx', 0o600);
    const out = handle;
    let chunks = 0;
    await streamSnapshot(source.endpoint, source.tls, {
      timeoutMs: source.timeoutMs,
      ...(source.signal ? { signal: source.signal } : {}),
      write: async (chunk) => {
        await writeAll(out, chunk);
        if (++chunks === 1) failpoint('snapshot-partial-written');
      },
    });
    await out.sync();
    await out.close();
    handle = undefined;
    const info = await verifySnapshot(temp);
    const path = join(target.dir, target.finalName(info));
    await rename(temp, path);
    await syncDir(target.dir);
    return { path, info, durationMs: Date.now() - started };
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw SnapshotFailed(target.what, isAgentError(err) ? err.message : describeError(err));
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let at = 0;
  while (at < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, at, chunk.length - at);
    at += bytesWritten;
  }
}
