/**
 * The agent's own corner of the etcd keyspace (DESIGN.md): everything the
 * agents keep cluster-wide lives under `/etcd-agent/<cluster>/`, and nothing
 * else in the keyspace is ever touched. One place for the names, so the
 * controllers, the CLI and the tests agree on them.
 *
 *   size                  wanted number of voting members (decimal)
 *   nodes/<name>          a member's agent: node id, address, ports (JSON)
 *   joins/<nodeId>        a waiting joiner or spare, on a short lease (JSON)
 *   admitted/<nodeId>     a joiner the membership controller added as learner (JSON)
 *   ops                   the last membership operations (JSON list)
 *   locks/membership      etcd lock serializing membership changes
 *   ca/election           the CA-role election (etcd election API)
 *   ca/escrow             the CA key, encrypted under the join token (see docs/protocol.md)
 *   restored              this cluster was restored from a snapshot: its id and the ids it replaced (JSON)
 */
export function agentPrefix(cluster: string): string {
  return `/etcd-agent/${cluster}/`;
}

export const clusterKeys = (cluster: string) => {
  const p = agentPrefix(cluster);
  return {
    prefix: p,
    size: `${p}size`,
    nodes: `${p}nodes/`,
    node: (name: string) => `${p}nodes/${name}`,
    joins: `${p}joins/`,
    join: (nodeId: string) => `${p}joins/${nodeId}`,
    admittedAll: `${p}admitted/`,
    admitted: (nodeId: string) => `${p}admitted/${nodeId}`,
    ops: `${p}ops`,
    membershipLock: `${p}locks/membership`,
    caElection: `${p}ca/election`,
    caEscrow: `${p}ca/escrow`,
    restored: `${p}restored`,
  } as const;
};

export type ClusterKeys = ReturnType<typeof clusterKeys>;
