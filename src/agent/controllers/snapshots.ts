import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { AgentConfig } from '../config/types.js';
import { SnapshotDir, type SnapshotFile } from '../snapshots/directory.js';
import { snapshotFileName, tempSnapshotName } from '../snapshots/names.js';
import { randomSuffix, writeVerifiedSnapshot, type SnapshotSource, type WrittenSnapshot } from '../snapshots/take.js';
import type { SnapshotStatus } from '../status/model.js';
import type { Controller } from './controller.js';

/** Bound on one snapshot transfer: minutes even for a database of several GB. */
export const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;
/** A failed scheduled snapshot is tried again after at most this. */
const RETRY_MS = 5 * 60_000;

/** What the membership controller needs: a fresh snapshot before it removes a member. */
export interface SnapshotTaker {
  /** Resolves once a verified snapshot is on disk; rejects with EA_SNAPSHOT_FAILED. */
  snapshotNow(reason: string): Promise<WrittenSnapshot>;
}

interface Job {
  reason: string;
  since: number;
  done: Promise<WrittenSnapshot>;
}

/**
 * The snapshots controller. Every member snapshots its own etcd into its own
 * `snapshots.dir`: no election, no coordination, no dependence on the network
 * or on quorum (a member without quorum can still be snapshotted, and that is
 * exactly when its data matters), and whichever hosts survive a disaster hold
 * recent snapshots of their own. The cost is one local copy per member, which
 * is what makes it survive the loss of any of them.
 *
 * The schedule counts from the newest snapshot on disk, so restarting the
 * agent neither skips nor repeats one. A snapshot runs in the background:
 * the conductor's loop (and /status, /metrics) never waits for it.
 */
export class SnapshotController implements Controller, SnapshotTaker {
  readonly name = 'snapshots';
  /** How often the schedule is looked at; the snapshot itself runs beside the loop. */
  readonly intervalMs = 1000;

  private readonly dir: SnapshotDir;
  private ready: Promise<void> | undefined;
  private job: Job | undefined;
  private readonly abort = new AbortController();
  private readonly startedAt = Date.now();
  private nextDueAt: number | undefined;
  private files: SnapshotFile[] = [];
  private lastSuccess: SnapshotStatus['lastSuccess'] = null;
  private lastFailure: SnapshotStatus['lastFailure'] = null;
  private successes = 0;
  private failures = 0;
  private consecutiveFailures = 0;

  constructor(
    private readonly config: AgentConfig,
    private readonly source: () => Omit<SnapshotSource, 'timeoutMs' | 'signal'>,
    private readonly logger: Logger,
  ) {
    this.dir = new SnapshotDir(config.snapshots.dir);
  }

  private get enabled(): boolean {
    return this.config.snapshots.intervalMs > 0;
  }

  async reconcile(): Promise<void> {
    await this.prepare();
    if (!this.enabled || this.job || this.abort.signal.aborted) return;
    if (Date.now() < (this.nextDueAt ?? 0)) return;
    // Outcome lands in the status section and the log; the loop does not wait.
    this.start('scheduled').done.catch(() => undefined);
  }

  /**
   * A snapshot now (before a membership removal, say). A snapshot already in
   * progress is shared: it started before this call, so it holds the state
   * the caller wants preserved.
   */
  async snapshotNow(reason: string): Promise<WrittenSnapshot> {
    await this.prepare();
    return (this.job ?? this.start(reason)).done;
  }

  /** Agent stop: abort a transfer in progress (its temp file is removed) and wait for it. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.job?.done.catch(() => undefined);
  }

  /** Once: the directory exists (0700), temp files of a killed run are gone, the files are known. */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      await this.dir.ensure();
      const stale = await this.dir.removeStaleTemps();
      if (stale.length > 0) this.logger.info({ component: 'snapshots', removed: stale }, 'removed temp files of a snapshot that never finished');
      await this.refreshFiles();
      const newest = this.files[0];
      if (this.enabled) this.nextDueAt = (newest ? newest.takenAt.getTime() : this.startedAt) + this.config.snapshots.intervalMs;
    })();
    this.ready.catch(() => {
      this.ready = undefined;
    });
    return this.ready;
  }

  private start(reason: string): Job {
    const since = Date.now();
    const job: Job = { reason, since, done: this.take(reason, since) };
    this.job = job;
    job.done
      .finally(() => {
        if (this.job === job) this.job = undefined;
      })
      .catch(() => undefined);
    return job;
  }

  private async take(reason: string, since: number): Promise<WrittenSnapshot> {
    const { cluster, node, snapshots } = this.config;
    const takenAt = new Date(since);
    this.logger.info({ component: 'snapshots', reason }, 'taking a snapshot');
    try {
      const written = await writeVerifiedSnapshot(
        { ...this.source(), timeoutMs: SNAPSHOT_TIMEOUT_MS, signal: this.abort.signal },
        {
          dir: snapshots.dir,
          tempName: tempSnapshotName(randomSuffix()),
          finalName: (info) => snapshotFileName(cluster.name, node.name, takenAt, info.revision),
          what: `snapshot (${reason})`,
          retries: true,
        },
      );
      const removed = await this.dir.prune(cluster.name, node.name, snapshots.keep);
      await this.refreshFiles();
      this.successes += 1;
      this.consecutiveFailures = 0;
      const file = written.path.slice(snapshots.dir.length + 1);
      this.lastSuccess = { at: new Date().toISOString(), file, sizeBytes: written.info.fileSize, revision: written.info.revision, durationMs: written.durationMs, reason };
      this.nextDueAt = since + snapshots.intervalMs;
      this.logger.info(
        { component: 'snapshots', reason, file, sizeBytes: written.info.fileSize, revision: written.info.revision, durationMs: written.durationMs, pruned: removed.map((f) => f.file) },
        'snapshot taken and verified',
      );
      return written;
    } catch (err) {
      const error = describeError(err);
      this.failures += 1;
      this.consecutiveFailures += 1;
      this.lastFailure = { at: new Date().toISOString(), reason, error };
      this.nextDueAt = Date.now() + Math.min(snapshots.intervalMs || RETRY_MS, RETRY_MS);
      this.logger.warn({ component: 'snapshots', reason, err: error }, 'snapshot failed; older snapshots are kept');
      throw err;
    }
  }

  private async refreshFiles(): Promise<void> {
    const { cluster, node } = this.config;
    this.files = (await this.dir.list()).filter((f) => f.cluster === cluster.name && f.node === node.name);
  }

  status(): SnapshotStatus {
    const { intervalMs, dir, keep } = this.config.snapshots;
    return {
      enabled: this.enabled,
      intervalMs,
      dir,
      keep,
      nextDueAt: this.enabled && this.nextDueAt !== undefined ? new Date(this.nextDueAt).toISOString() : null,
      inProgress: this.job ? { since: new Date(this.job.since).toISOString(), reason: this.job.reason } : null,
      lastSuccess: this.lastSuccess,
      lastFailure: this.lastFailure,
      successes: this.successes,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      files: this.files.map((f) => ({ file: f.file, sizeBytes: f.sizeBytes, revision: f.revision, takenAt: f.takenAt.toISOString() })),
    };
  }
}


