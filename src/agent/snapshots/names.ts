/**
 * Pure: how snapshot files are named, recognised and pruned.
 *
 *   <cluster>_<node>_<UTC time, basic ISO with ms>_rev<revision>.db
 *   e.g. prod_etcd-1_20260102T030405.123Z_rev48213.db
 *
 * Cluster names hold no "_", so the name splits from both ends even when a
 * node name has one. Sorting by time is sorting by name. While it is being
 * written a snapshot is a hidden temp file (`.snapshot-<random>.partial`),
 * which nothing else ever reads and which start-up removes.
 */
export interface SnapshotName {
  file: string;
  cluster: string;
  node: string;
  takenAt: Date;
  revision: number;
}

const NAME = /^([a-z0-9-]+)_(.+)_(\d{8}T\d{6}\.\d{3}Z)_rev(\d+)\.db$/;
const TEMP = /^\.snapshot-[0-9a-f]{8,32}\.partial$/;

/** 2026-01-02T03:04:05.123Z → 20260102T030405.123Z (no ":" in file names). */
export function compactTime(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

function parseCompactTime(s: string): Date | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)\.(\d{3})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function snapshotFileName(cluster: string, node: string, takenAt: Date, revision: number): string {
  return `${cluster}_${node}_${compactTime(takenAt)}_rev${revision}.db`;
}

export function parseSnapshotName(file: string): SnapshotName | undefined {
  const m = NAME.exec(file);
  if (!m) return undefined;
  const takenAt = parseCompactTime(m[3]!);
  const revision = Number(m[4]);
  if (!takenAt || !Number.isSafeInteger(revision)) return undefined;
  return { file, cluster: m[1]!, node: m[2]!, takenAt, revision };
}

export function tempSnapshotName(random: string): string {
  return `.snapshot-${random}.partial`;
}

export function isTempSnapshotName(file: string): boolean {
  return TEMP.test(file);
}

/** Newest first: by time, then by revision. */
export function newestFirst<T extends SnapshotName>(files: T[]): T[] {
  return [...files].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || b.revision - a.revision || (a.file < b.file ? 1 : -1));
}

/**
 * The files retention removes: this node's snapshots of this cluster beyond
 * the newest `keep`. Files of other clusters or nodes (a shared directory),
 * and anything not named like a snapshot, are never touched.
 */
export function snapshotsToPrune<T extends SnapshotName>(files: T[], cluster: string, node: string, keep: number): T[] {
  const own = newestFirst(files.filter((f) => f.cluster === cluster && f.node === node));
  return own.slice(Math.max(0, keep));
}
