import { resolve } from 'node:path';
import { restoreFromSnapshot } from '../restore/restore.js';
import { parseCommandArgs, usageError, type CliIo } from './args.js';
import { loadNodeConfig, NODE_OPTIONS } from './node-files.js';

export const RESTORE_USAGE = `usage: etcd-agent restore --snapshot FILE [--force] [--skip-hash-check] [--config PATH] [--root DIR]

Disaster recovery, for a cluster that lost quorum for good. Run as root on one
surviving member that holds the CA key, with the agent and etcd stopped
(systemctl stop etcd-agent etcd). This host becomes the only member of a NEW
cluster made from the snapshot: new cluster id, new initial-cluster token; the
CA, this node's certificates and the join token are kept. The old data dir is
renamed <data dir>.before-restore-<time> (never deleted) and the agent's state
before the restore is kept in <state dir>/before-restore-<time>/.
Then start the agent (systemctl start etcd-agent); the other hosts, wiped or
reinstalled, join the new cluster as new members. A member of the old cluster
that comes back with its data stops its etcd, sets its data aside and rejoins.

Refused, changing nothing, while another member of the old cluster still has
quorum (answers a linearizable read), unless --force.

  --snapshot FILE     the snapshot (etcd-agent snapshot list --verify shows the good ones)
  --force             restore even though the old cluster seems to have quorum
  --skip-hash-check   accept a db file without etcd's integrity hash (copied out
                      of a data dir's member/snap/db); its structure is still checked
  --config PATH       agent config (default /etc/etcd-agent/config.yaml, or $ETCD_AGENT_CONFIG)
  --root DIR          the node lives under DIR (as with \`etcd-agent init --root\`)

Step by step: docs/disaster-recovery.md.
`;

/** `etcd-agent restore --snapshot FILE [--force]`. */
export async function restoreCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('restore', args, {
    ...NODE_OPTIONS,
    snapshot: { type: 'string' },
    force: { type: 'boolean' },
    'skip-hash-check': { type: 'boolean' },
  });
  if (values.snapshot === undefined) throw usageError('missing --snapshot FILE; see `etcd-agent restore --help`');
  const config = await loadNodeConfig(values, io);
  const outcome = await restoreFromSnapshot(config, {
    snapshot: resolve(io.cwd, values.snapshot),
    force: values.force ?? false,
    skipHashCheck: values['skip-hash-check'] ?? false,
    say: (line) => io.stdout.write(`etcd-agent restore: ${line}\n`),
  });
  io.stdout.write(
    [
      '',
      `Restored. New cluster id ${outcome.clusterId} (was ${outcome.oldClusterId}), this member ${outcome.memberId}, data at revision ${outcome.revision}.`,
      `Old data dir: ${outcome.dataDirAside ?? '(there was none)'}; state before the restore: ${outcome.backupDir}.`,
      'Next:',
      '  1. start the agent here:            systemctl start etcd-agent',
      '  2. check:                           etcd-agent status   (one member, healthy)',
      '  3. on each other host, wiped or reinstalled: install and start etcd-agent with the same',
      '     cluster name and join token; it joins the new cluster as a learner and is promoted.',
      '',
    ].join('\n'),
  );
  return 0;
}
