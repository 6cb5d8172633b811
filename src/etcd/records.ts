/**
 * The records the agents keep in etcd under `/etcd-agent/<cluster>/` (keys.ts
 * names them; docs in README "Joining and resizing"). Every value is JSON
 * (the size a decimal string), written exactly as DAY2-PLAN.md says, and read
 * back with a shape check: a record that is not what the agents write is
 * skipped and reported, never trusted. Every call is bounded (`withClient`).
 */
import { describeError } from '../util/errors.js';
import type { Etcd3 } from 'etcd3';
import { membersVia, withClient, type EtcdMember, type EtcdTls } from './client.js';
import { EtcdRecordInvalid } from './errors.js';
import { clusterKeys, type ClusterKeys } from './keys.js';

/** Where and how to reach etcd for one call. */
export interface EtcdTarget {
  endpoints: string[];
  tls: EtcdTls;
  timeoutMs: number;
}

/** An agent as a candidate member (the peer protocol's Candidate; same shape). */
export interface CandidateRecord {
  nodeId: string;
  name: string;
  address: string;
  peerApiPort: number;
  etcdPeerPort: number;
  etcdClientPort: number;
}

export type JoinReason = 'fresh' | 'wiped' | 'removed';

/** `nodes/<name>`: a member's agent, written by that agent. */
export interface NodeRecord extends CandidateRecord {
  updatedAt: string;
}

/** `joins/<nodeId>`: a waiting joiner or spare, on a lease; `since` is kept from its first ask. */
export interface JoinRecord {
  candidate: CandidateRecord;
  reason: JoinReason;
  since: string;
}

/** `admitted/<nodeId>`: written right after memberAdd(learner); deleted on promotion or removal. */
export interface AdmittedRecord {
  candidate: CandidateRecord;
  /** Hex. */
  memberId: string;
  admittedAt: string;
  reason: JoinReason;
}

export type OpKind = 'add-learner' | 'promote' | 'remove' | 'resize';

/** One entry of `ops` (newest last, at most OPS_KEPT). */
export interface OpRecord {
  op: OpKind;
  /** Member name (or node id), or the new size for a resize. */
  target: string;
  reason: string;
  /** 'ok', or 'failed: <why>'. */
  result: string;
  at: string;
  /** Name of the node that did it. */
  by: string;
}

export interface ClusterRecords {
  /** Wanted number of voters; undefined until formation wrote it. */
  size: number | undefined;
  nodes: NodeRecord[];
  joins: JoinRecord[];
  admitted: AdmittedRecord[];
  ops: OpRecord[];
  /** Who holds `locks/membership` right now (its value), if anyone. */
  lockHolder: string | undefined;
  /** Records that were skipped, in words. */
  problems: string[];
}

export const OPS_KEPT = 10;
export const JOIN_LEASE_SECONDS = 30;
const OP_KINDS: ReadonlySet<string> = new Set(['add-learner', 'promote', 'remove', 'resize']);
const JOIN_REASONS: ReadonlySet<string> = new Set(['fresh', 'wiped', 'removed']);

// ---- shape checks -----------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown, max = 2000): v is string => typeof v === 'string' && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

function candidateOf(v: unknown): CandidateRecord | undefined {
  if (!isObject(v)) return undefined;
  const { nodeId, name, address, peerApiPort, etcdPeerPort, etcdClientPort } = v;
  if (typeof nodeId !== 'string' || !/^[0-9a-f]{32}$/.test(nodeId)) return undefined;
  if (!isText(name, 63) || !/^[A-Za-z0-9._-]+$/.test(name)) return undefined;
  if (!isText(address, 64) || !/^[0-9a-fA-F.:]+$/.test(address)) return undefined;
  if (!isPort(peerApiPort) || !isPort(etcdPeerPort) || !isPort(etcdClientPort)) return undefined;
  return { nodeId, name, address, peerApiPort, etcdPeerPort, etcdClientPort };
}

export function parseNode(v: unknown): NodeRecord | undefined {
  const c = candidateOf(v);
  if (!c || !isObject(v) || !isText(v.updatedAt, 64)) return undefined;
  return { ...c, updatedAt: v.updatedAt };
}

export function parseJoin(v: unknown): JoinRecord | undefined {
  if (!isObject(v)) return undefined;
  const candidate = candidateOf(v.candidate);
  if (!candidate || typeof v.reason !== 'string' || !JOIN_REASONS.has(v.reason) || !isText(v.since, 64)) return undefined;
  return { candidate, reason: v.reason as JoinReason, since: v.since };
}

export function parseAdmitted(v: unknown): AdmittedRecord | undefined {
  if (!isObject(v)) return undefined;
  const candidate = candidateOf(v.candidate);
  if (!candidate || typeof v.memberId !== 'string' || !/^[0-9a-f]{1,16}$/.test(v.memberId)) return undefined;
  if (!isText(v.admittedAt, 64) || typeof v.reason !== 'string' || !JOIN_REASONS.has(v.reason)) return undefined;
  return { candidate, memberId: v.memberId, admittedAt: v.admittedAt, reason: v.reason as JoinReason };
}

export function parseOps(v: unknown): OpRecord[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: OpRecord[] = [];
  for (const e of v) {
    if (!isObject(e) || typeof e.op !== 'string' || !OP_KINDS.has(e.op)) continue;
    if (!isText(e.target, 200) || !isText(e.reason) || !isText(e.result) || !isText(e.at, 64) || !isText(e.by, 63)) continue;
    out.push({ op: e.op as OpKind, target: e.target, reason: e.reason, result: e.result, at: e.at, by: e.by });
  }
  return out.slice(-OPS_KEPT);
}

/** A wanted size as etcd holds it: a decimal string, 1 or more. */
export function parseSize(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,2}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Pure: the agents' records from the key/value pairs under the cluster prefix. */
export function recordsFrom(cluster: string, kvs: ReadonlyMap<string, string>): ClusterRecords {
  const keys = clusterKeys(cluster);
  const out: ClusterRecords = { size: undefined, nodes: [], joins: [], admitted: [], ops: [], lockHolder: undefined, problems: [] };
  const bad = (key: string, problem: string): void => {
    out.problems.push(EtcdRecordInvalid(key, problem).message);
  };
  for (const [key, value] of kvs) {
    if (key === keys.size) {
      out.size = parseSize(value);
      if (out.size === undefined) bad(key, `is ${JSON.stringify(value.slice(0, 20))}, not a whole number from 1 to 999`);
    } else if (key === keys.ops) {
      const ops = parseOps(parseJson(value));
      if (ops) out.ops = ops;
      else bad(key, 'is not a JSON list of operations');
    } else if (key === keys.membershipLock) {
      out.lockHolder = value.slice(0, 200);
    } else if (key.startsWith(keys.nodes)) {
      const n = parseNode(parseJson(value));
      if (n && key === keys.node(n.name)) out.nodes.push(n);
      else bad(key, 'is not a node record for that name');
    } else if (key.startsWith(keys.joins)) {
      const j = parseJoin(parseJson(value));
      if (j && key === keys.join(j.candidate.nodeId)) out.joins.push(j);
      else bad(key, 'is not a join record for that node id');
    } else if (key.startsWith(keys.admittedAll)) {
      const a = parseAdmitted(parseJson(value));
      if (a && key === keys.admitted(a.candidate.nodeId)) out.admitted.push(a);
      else bad(key, 'is not an admission record for that node id');
    }
  }
  return out;
}

// ---- reads and writes -------------------------------------------------------

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * Several record operations over one client (one TLS connection), as one
 * bounded call: `withRecords(target, cluster, (s) => ...)`. The standalone
 * functions below each open their own.
 */
export class RecordsSession {
  private readonly keys: ClusterKeys;

  constructor(
    readonly client: Etcd3,
    private readonly cluster: string,
  ) {
    this.keys = clusterKeys(cluster);
  }

  /** Everything membership uses under `/etcd-agent/<cluster>/`, in one transaction (the CA keys are not read). */
  async read(): Promise<ClusterRecords> {
    const k = this.keys;
    const prefixes = [k.nodes, k.joins, k.admittedAll];
    const singles = [k.size, k.ops, k.membershipLock];
    const ops = [
      ...prefixes.map((p) => ({ request_range: { key: Buffer.from(p), range_end: prefixEnd(Buffer.from(p)) } })),
      ...singles.map((key) => ({ request_range: { key: Buffer.from(key) } })),
    ];
    const res = await this.client.kv.txn({ compare: [], success: ops, failure: [] });
    const kvs = new Map<string, string>();
    for (const r of res.responses) for (const kv of r.response_range?.kvs ?? []) kvs.set(kv.key.toString('utf8'), kv.value.toString('utf8'));
    return recordsFrom(this.cluster, kvs);
  }

  members(): Promise<{ clusterId: string; members: EtcdMember[] }> {
    return membersVia(this.client);
  }

  /**
   * Records (or refreshes) a joiner's place in the queue on a fresh lease of
   * JOIN_LEASE_SECONDS; `since` is kept from the record already there, so
   * asking again never loses the place, and a joiner that stops asking drops
   * out when its lease ends. The previous lease is revoked (the key has moved
   * off it).
   */
  async putJoin(join: { candidate: CandidateRecord; reason: JoinReason }, now = new Date()): Promise<JoinRecord> {
    const key = this.keys.join(join.candidate.nodeId);
    const existing = await this.client.get(key).exec();
    const kv = existing.kvs[0];
    const previous = kv ? parseJoin(parseJson(kv.value.toString('utf8'))) : undefined;
    const since = previous && previous.candidate.nodeId === join.candidate.nodeId ? previous.since : now.toISOString();
    const record: JoinRecord = { candidate: join.candidate, reason: join.reason, since };
    const granted = await this.client.leaseClient.leaseGrant({ TTL: JOIN_LEASE_SECONDS });
    await this.client.put(key).value(JSON.stringify(record)).lease(granted.ID);
    const oldLease = kv?.lease;
    if (oldLease && oldLease !== '0' && oldLease !== granted.ID) {
      await this.client.leaseClient.leaseRevoke({ ID: oldLease }).catch(() => undefined);
    }
    return record;
  }
}

export function withRecords<T>(target: EtcdTarget, cluster: string, fn: (s: RecordsSession) => Promise<T>): Promise<T> {
  return withClient(target.endpoints, target.tls, target.timeoutMs, (client) => fn(new RecordsSession(client, cluster)));
}

export function readRecords(target: EtcdTarget, cluster: string): Promise<ClusterRecords> {
  return withRecords(target, cluster, (s) => s.read());
}

/**
 * Writes the wanted size only if there is none yet (a txn on create revision
 * 0): formation's size is written once, and never over a resize. Returns the
 * size etcd holds afterwards.
 */
export async function ensureSize(target: EtcdTarget, cluster: string, size: number): Promise<number | undefined> {
  const key = clusterKeys(cluster).size;
  return withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    await client.if(key, 'Create', '==', 0).then(client.put(key).value(String(size))).commit();
    const now = await client.get(key).string();
    return now === null ? undefined : parseSize(now);
  });
}

export async function writeSize(target: EtcdTarget, cluster: string, size: number): Promise<void> {
  await withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    await client.put(clusterKeys(cluster).size).value(String(size));
  });
}

export async function putNode(target: EtcdTarget, cluster: string, record: NodeRecord): Promise<void> {
  await withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    await client.put(clusterKeys(cluster).node(record.name)).value(JSON.stringify(record));
  });
}

export function putJoin(target: EtcdTarget, cluster: string, join: { candidate: CandidateRecord; reason: JoinReason }, now = new Date()): Promise<JoinRecord> {
  return withRecords(target, cluster, (s) => s.putJoin(join, now));
}

export async function deleteJoin(target: EtcdTarget, cluster: string, nodeId: string): Promise<void> {
  await withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    await client.delete().key(clusterKeys(cluster).join(nodeId));
  });
}

export async function putAdmitted(target: EtcdTarget, cluster: string, record: AdmittedRecord): Promise<void> {
  await withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    await client.put(clusterKeys(cluster).admitted(record.candidate.nodeId)).value(JSON.stringify(record));
  });
}

export async function deleteAdmitted(target: EtcdTarget, cluster: string, nodeId: string): Promise<void> {
  await withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    await client.delete().key(clusterKeys(cluster).admitted(nodeId));
  });
}

/** The admission record of one node id, if any (the CA holder asks this before its gate). */
export async function readAdmitted(target: EtcdTarget, cluster: string, nodeId: string): Promise<AdmittedRecord | undefined> {
  return withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    const v = await client.get(clusterKeys(cluster).admitted(nodeId)).string();
    return v === null ? undefined : parseAdmitted(parseJson(v));
  });
}

/** Appends to `ops` (newest last, at most OPS_KEPT), with a compare on the key's revision so concurrent appends never lose one. */
export async function appendOp(target: EtcdTarget, cluster: string, op: OpRecord): Promise<void> {
  const key = clusterKeys(cluster).ops;
  await withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const got = await client.get(key).exec();
      const kv = got.kvs[0];
      const ops = (kv ? parseOps(parseJson(kv.value.toString('utf8'))) : undefined) ?? [];
      const next = JSON.stringify([...ops, op].slice(-OPS_KEPT));
      const res = await client
        .if(key, 'Mod', '==', kv ? kv.mod_revision : '0')
        .then(client.put(key).value(next))
        .commit();
      if (res.succeeded) return;
    }
    throw new Error(`could not append to ${key}: it kept changing under us`);
  });
}

export interface LockOutcome<T> {
  acquired: boolean;
  /** Who holds it, when not acquired. */
  holder?: string;
  value?: T;
}

/**
 * Runs `fn` while holding `locks/membership`: a key created only if absent
 * (txn on create revision 0), attached to a lease of `ttlSeconds` that is
 * revoked afterwards. Never waits for the lock: when another member holds it,
 * returns at once with its holder. `fn` must finish well within the TTL (the
 * lock's client has a deadline of `target.timeoutMs`, which the caller keeps
 * below it), so a holder that dies frees the lock when its lease ends.
 * With `reclaimOwn`, `holder` names one caller that never runs two of these at
 * once (a member's membership controller): a lock that already carries
 * exactly that name is its own stale one, and is taken over.
 */
export async function withMembershipLock<T>(
  target: EtcdTarget,
  cluster: string,
  holder: string,
  ttlSeconds: number,
  fn: () => Promise<T>,
  options: { reclaimOwn?: boolean } = {},
): Promise<LockOutcome<T>> {
  const key = clusterKeys(cluster).membershipLock;
  if (target.timeoutMs >= ttlSeconds * 1000) throw new Error(`lock deadline ${target.timeoutMs} ms must be shorter than its lease (${ttlSeconds} s)`);
  return withClient(target.endpoints, target.tls, target.timeoutMs, async (client) => {
    const lease = await client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    try {
      const take = () => client.if(key, 'Create', '==', 0).then(client.put(key).value(holder).lease(lease.ID)).else(client.get(key)).commit();
      let res = await take();
      const held = res.succeeded ? undefined : res.responses[0]?.response_range?.kvs[0];
      if (options.reclaimOwn && held && held.value.toString('utf8') === holder) {
        // Our own lock, left by an earlier attempt whose lease revoke failed (etcd refused a reconfiguration as
        // Unavailable, and the client refused the revoke right after: trial partition-join seed 14600 waited out
        // the 20 s lease). The holder names one caller that never runs two of these at once, so it is stale:
        // remove it if it is still that very key, and take the lock.
        await client.if(key, 'Mod', '==', held.mod_revision).then(client.delete().key(key)).commit();
        res = await take();
      }
      if (!res.succeeded) {
        const other = res.responses[0]?.response_range?.kvs[0]?.value.toString('utf8');
        return { acquired: false, ...(other !== undefined ? { holder: other } : {}) };
      }
      return { acquired: true, value: await fn() };
    } finally {
      await client.leaseClient.leaseRevoke({ ID: lease.ID }).catch((err: unknown) => describeError(err));
    }
  });
}
