/**
 * What the admission gate needs to know about the cluster's members for
 * renewals, re-enrollment after expiry and client certificates: etcd's member
 * list and the `nodes/<name>` records (records.ts parses them; the membership
 * controller keeps each agent's own up to date).
 */
import { withClient, type EtcdTls } from './client.js';
import { clusterKeys } from './keys.js';
import { parseNode, type NodeRecord } from './records.js';

export type { NodeRecord };

/** What etcd says about the cluster's members, for the admission gate. */
export interface MemberFacts {
  /** Names in etcd's member list (a member that never started has none and is left out). */
  names: string[];
  /** Client URLs of every started member. */
  clientUrls: string[];
  records: NodeRecord[];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The member list and every `nodes/*` record, in one bounded client. */
export async function readMemberFacts(endpoints: string[], tls: EtcdTls, cluster: string, timeoutMs: number): Promise<MemberFacts> {
  const keys = clusterKeys(cluster);
  return withClient(endpoints, tls, timeoutMs, async (client) => {
    const [list, values] = await Promise.all([client.cluster.memberList({}), client.getAll().prefix(keys.nodes).strings()]);
    const records: NodeRecord[] = [];
    for (const [key, value] of Object.entries(values)) {
      const record = parseNode(parseJson(value));
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
