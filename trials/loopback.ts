/** A NodeSet node (loopback agents, test/helpers/agents.ts) as a TrialNode. */
import { join } from 'node:path';
import { httpGet, type NodeSet, type TestNode } from '../test/helpers/agents.js';
import { execBounded, pidsWithCwdUnder, stateDir, type TrialNode } from './access.js';

export function loopbackNode(set: NodeSet, node: TestNode): TrialNode {
  return {
    name: node.name,
    root: node.root,
    logFiles: () => [node.logFile, join(stateDir(node.root), 'etcd.log')],
    get: (path) => httpGet(node.address, node.statusPort, path),
    etcdctl: (args) =>
      execBounded(
        'etcdctl',
        [`--endpoints=https://${node.address}:2379`, '--dial-timeout=3s', '--command-timeout=5s', `--cacert=${set.pki(node, 'ca.crt')}`, `--cert=${set.pki(node, 'etcdctl.crt')}`, `--key=${set.pki(node, 'etcdctl.key')}`, ...args],
        20_000,
        { ETCDCTL_API: '3' },
      ),
    pids: () => [...(node.proc?.pid ? [node.proc.pid] : []), ...pidsWithCwdUnder(node.root)],
  };
}
