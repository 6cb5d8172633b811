/**
 * What the repair tests check on loopback clusters (NodeSet): the member
 * list as etcd has it, and the cluster id each node's own etcd reports — the
 * proof that nothing bootstrapped a second cluster.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import type { NodeSet, TestNode } from './agents.js';


/** etcdctl's JSON with its 64-bit ids (ID, cluster_id, member_id, ...) kept exact: JSON.parse would round them to doubles. */
export function parseEtcdJson<T>(text: string): T {
  return JSON.parse(text.replace(/"(ID|cluster_id|member_id|leader|raft_term|revision|id)":(\d+)/g, '"$1":"$2"')) as T;
}

export interface Member {
  id: string;
  name: string;
  isLearner: boolean;
}

/** `member list` through `via`'s own etcd (ids in hex), or undefined when it does not answer. */
export function members(set: NodeSet, via: TestNode): { clusterId: string; members: Member[] } | undefined {
  const r = set.etcdctl(via, ['member', 'list', '-w', 'json']);
  if (r.status !== 0) return undefined;
  const parsed = parseEtcdJson<{ header: { cluster_id: string }; members: { ID: string; name: string; isLearner?: boolean }[] }>(r.stdout);
  return {
    clusterId: BigInt(parsed.header.cluster_id).toString(16),
    members: parsed.members.map((m) => ({ id: BigInt(m.ID).toString(16), name: m.name, isLearner: Boolean(m.isLearner) })),
  };
}

/** The cluster id each node's own etcd reports ('(no answer)' when it does not). */
export function clusterIds(set: NodeSet, nodes: TestNode[]): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const n of nodes) {
    const r = set.etcdctl(n, ['endpoint', 'status', '-w', 'json']);
    if (r.status !== 0) {
      ids[n.name] = '(no answer)';
      continue;
    }
    const parsed = parseEtcdJson<{ Status: { header: { cluster_id: string } } }[]>(r.stdout);
    ids[n.name] = BigInt(parsed[0]!.Status.header.cluster_id).toString(16);
  }
  return ids;
}

/** Where a node's etcd data dir is (NodeSet roots: <root>/var/lib/etcd/<cluster>). */
export function dataDirOf(node: TestNode, cluster: string): string {
  return join(node.root, 'var', 'lib', 'etcd', cluster);
}

/** Directories the agent moved the data dir to (`<dataDir>.aside-<why>-<time>`). */
export function asideDirs(node: TestNode, cluster: string, why: string): string[] {
  const dir = dataDirOf(node, cluster);
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .filter((e) => e.startsWith(`${basename(dir)}.aside-${why}-`))
    .map((e) => join(parent, e));
}
