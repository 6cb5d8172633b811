/**
 * The `restored` record: a cluster made by `etcd-agent restore` says in its
 * own keyspace which cluster ids it replaced. A member of a replaced cluster
 * that comes back reads it from any member it still knows the address of,
 * and stops serving its old cluster (agent/controllers/lineage.ts).
 *
 * The record is read from etcd clusters other than our own, so it is parsed
 * as untrusted input: a bounded, exact shape, or nothing.
 */
import { withClient, type EtcdTls } from './client.js';

export interface RestoredRecord {
  /** The cluster this record belongs to (hex). */
  clusterId: string;
  /** Every cluster id it replaced, the most recent first (hex). */
  supersedes: string[];
  restoredAt: string;
  /** Member name of the node the restore ran on. */
  by: string;
  snapshot: { file: string; revision: number };
}

const HEX_ID = /^[0-9a-f]{1,16}$/;
const MAX_SUPERSEDES = 64;

export function parseRestoredRecord(text: string): RestoredRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const snapshot = r.snapshot as Record<string, unknown> | null | undefined;
  if (typeof r.clusterId !== 'string' || !HEX_ID.test(r.clusterId)) return undefined;
  if (!Array.isArray(r.supersedes) || r.supersedes.length > MAX_SUPERSEDES || !r.supersedes.every((x) => typeof x === 'string' && HEX_ID.test(x))) return undefined;
  if (typeof r.restoredAt !== 'string' || r.restoredAt.length > 64) return undefined;
  if (typeof r.by !== 'string' || r.by.length > 253) return undefined;
  if (typeof snapshot !== 'object' || snapshot === null || typeof snapshot.file !== 'string' || snapshot.file.length > 4096 || typeof snapshot.revision !== 'number') return undefined;
  return {
    clusterId: r.clusterId,
    supersedes: r.supersedes as string[],
    restoredAt: r.restoredAt,
    by: r.by,
    snapshot: { file: snapshot.file, revision: snapshot.revision },
  };
}

/**
 * The record as `endpoint`'s member has it, read locally (serializable): a
 * member that lost quorum still tells what it knows. Undefined when there is
 * none or it does not parse.
 */
export async function readRestoredRecord(endpoint: string, tls: EtcdTls, key: string, timeoutMs: number): Promise<RestoredRecord | undefined> {
  return withClient([endpoint], tls, timeoutMs, async (client) => {
    const res = await client.kv.range({ key: Buffer.from(key), serializable: true, limit: 1 });
    const value = res.kvs[0]?.value;
    return value ? parseRestoredRecord(Buffer.from(value).toString('utf8')) : undefined;
  });
}

export async function writeRestoredRecord(endpoint: string, tls: EtcdTls, key: string, record: RestoredRecord, timeoutMs: number): Promise<void> {
  await withClient([endpoint], tls, timeoutMs, async (client) => {
    await client.put(key).value(JSON.stringify(record));
  });
}

/**
 * Revokes the leases of the keys under `prefix` (the agent's own keys), with
 * every key on them; returns how many. For a cluster restored from a
 * snapshot, before any session of its own exists: the snapshot carries the
 * old cluster's sessions (CA-role candidates, the membership lock, join queue
 * places), which etcd revives on start and keeps for a full TTL, naming as CA
 * holder a host that is gone. Leases of keys outside the prefix are the
 * users' and left alone.
 */
export async function revokeLeasesUnder(endpoint: string, tls: EtcdTls, prefix: string, timeoutMs: number): Promise<number> {
  return withClient([endpoint], tls, timeoutMs, async (client) => {
    const kvs = await client.getAll().prefix(prefix).exec().then((r) => r.kvs);
    const leases = new Set(kvs.map((kv) => kv.lease).filter((id) => id !== '0'));
    for (const ID of leases) {
      // Gone already (expired meanwhile) is what was wanted.
      await client.leaseClient.leaseRevoke({ ID }).catch((err: unknown) => {
        if (!/requested lease not found/i.test(String(err))) throw err;
      });
    }
    return leases.size;
  });
}
