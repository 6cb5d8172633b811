import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdTls } from '../../etcd/client.js';
import { streamSnapshot } from '../../etcd/snapshot.js';
import { verifySnapshot, type SnapshotInfo } from '../../etcd/snapshot-file.js';
import { syncDir, writeProblem } from '../../util/atomic-write.js';
import { defineError, describeError, isAgentError, type AgentError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';

export const SnapshotFailed = defineError(
  'EA_SNAPSHOT_FAILED',
  (what: string, why: string, action?: string) =>
    `${what} failed: ${why}; no partial file was left and no older snapshot was removed${action === undefined ? '' : ` — ${action}`}`,
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
  /** True when the caller takes the snapshot again by itself after a failure (the scheduled snapshots); messages say so. */
  retries?: boolean;
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
    throw snapshotFailure(err, target, temp);
  }
}

/**
 * EA_SNAPSHOT_FAILED for what writeVerifiedSnapshot caught. A full disk or
 * quota (or a read-only or refused directory) names the snapshots dir and the
 * temp file, keeps the errno text and says what to do.
 */
export function snapshotFailure(err: unknown, target: Pick<SnapshotTarget, 'dir' | 'what' | 'retries'>, temp: string): AgentError {
  if (isAgentError(err)) return SnapshotFailed(target.what, err.message);
  const problem = writeProblem(err, target.dir);
  if (problem === undefined) return SnapshotFailed(target.what, describeError(err));
  const then = target.retries === true ? 'the agent retries by itself' : 'then run the command again';
  const failure = SnapshotFailed(target.what, `writing ${temp}: ${problem.why}`, `${problem.action}; ${then}`);
  failure.cause = err;
  return failure;
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let at = 0;
  while (at < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, at, chunk.length - at);
    at += bytesWritten;
  }
}
