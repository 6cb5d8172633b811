/**
 * `nodes/<name>` records (DAY2-PLAN.md): each formed agent keeps its own up
 * to date; the CA holder reads them to decide who may re-enroll with the join
 * token after its certificate expired, and `cert issue` to find the agents.
 * Values come from etcd, so they are parsed as untrusted JSON.
 */
import { clusterKeys } from './keys.js';
import { withClient, type EtcdTls } from './client.js';

export interface NodeRecord {
  nodeId: string;
  name: string;
  address: string;
  peerApiPort: number;
  etcdPeerPort: number;
  etcdClientPort: number;
  updatedAt: string;
}

/** What etcd says about the cluster's members, for the admission gate. */
export interface MemberFacts {
  /** Names in etcd's member list (a member that never started has none and is left out). */
  names: string[];
  /** Client URLs of every started member. */
  clientUrls: string[];
  records: NodeRecord[];
}

const NAME = /^[A-Za-z0-9._-]{1,63}$/;

/** A record as stored, or undefined when the value is not one (then it counts as missing). */
export function parseNodeRecord(text: string): NodeRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const port = (p: unknown): p is number => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536;
  if (typeof r.nodeId !== 'string' || !/^[0-9a-f]{32}$/.test(r.nodeId)) return undefined;
  if (typeof r.name !== 'string' || !NAME.test(r.name)) return undefined;
  if (typeof r.address !== 'string' || !/^[0-9a-fA-F.:]{2,64}$/.test(r.address)) return undefined;
  if (!port(r.peerApiPort) || !port(r.etcdPeerPort) || !port(r.etcdClientPort)) return undefined;
  const updatedAt = typeof r.updatedAt === 'string' ? r.updatedAt : '';
  return {
    nodeId: r.nodeId,
    name: r.name,
    address: r.address,
    peerApiPort: r.peerApiPort,
    etcdPeerPort: r.etcdPeerPort,
    etcdClientPort: r.etcdClientPort,
    updatedAt,
  };
}

/** True when two records say the same thing (updatedAt aside). */
export function sameNodeRecord(a: NodeRecord, b: NodeRecord): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.name === b.name &&
    a.address === b.address &&
    a.peerApiPort === b.peerApiPort &&
    a.etcdPeerPort === b.etcdPeerPort &&
    a.etcdClientPort === b.etcdClientPort
  );
}

/** The member list and every `nodes/*` record, in one bounded client. */
export async function readMemberFacts(endpoints: string[], tls: EtcdTls, cluster: string, timeoutMs: number): Promise<MemberFacts> {
  const keys = clusterKeys(cluster);
  return withClient(endpoints, tls, timeoutMs, async (client) => {
    const [list, values] = await Promise.all([client.cluster.memberList({}), client.getAll().prefix(keys.nodes).strings()]);
    const records: NodeRecord[] = [];
    for (const [key, value] of Object.entries(values)) {
      const record = parseNodeRecord(value);
      // The key names the record; a value claiming another name is ignored.
      if (record && key === keys.node(record.name)) records.push(record);
    }
    return {
      names: list.members.map((m) => m.name).filter((n) => n !== ''),
      clientUrls: list.members.flatMap((m) => [...m.clientURLs]),
      records,
    };
  });
}

/**
 * Writes this node's record when it is missing or says something else.
 * Returns whether it wrote. Member ids are hex elsewhere; nothing here needs them.
 */
export async function ensureNodeRecord(endpoints: string[], tls: EtcdTls, cluster: string, record: NodeRecord, timeoutMs: number): Promise<boolean> {
  const key = clusterKeys(cluster).node(record.name);
  return withClient(endpoints, tls, timeoutMs, async (client) => {
    const current = await client.get(key).string();
    const parsed = current === null ? undefined : parseNodeRecord(current);
    if (parsed && sameNodeRecord(parsed, record)) return false;
    await client.put(key).value(JSON.stringify(record)).exec();
    return true;
  });
}

