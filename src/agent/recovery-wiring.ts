import type { EtcdTls } from '../etcd/client.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { StateStore } from './bootstrap/state-store.js';
import type { AgentConfig } from './config/types.js';
import type { ClusterObservation } from './controllers/cluster-health.js';
import { LineageController } from './controllers/lineage.js';
import { SnapshotController } from './controllers/snapshots.js';
import { localClientUrl } from './files/etcd-files.js';
import type { NodeState } from './node-state.js';
import { KnownMembersRecorder } from './restore/known-members.js';
import { stepAside } from './restore/step-aside.js';

export interface RecoveryWiringDeps {
  config: AgentConfig;
  logger: Logger;
  store: StateStore;
  state: NodeState;
  /** The node's admin client certificate for its own etcd (throws before enrollment). */
  adminTls: () => EtcdTls;
  observation: () => ClusterObservation | undefined;
  stopEtcd: () => Promise<void>;
  /** The conductor forgets the cluster in memory and starts over as a new agent; `why` becomes its phase reason. */
  becomeNew: (why: string) => Promise<void>;
}

export interface RecoveryParts {
  /** Every member snapshots its own etcd; the membership controller calls `snapshotNow` before a removal. */
  snapshots: SnapshotController;
  /** Runs before the service controller: a member of a replaced cluster never starts etcd on its old data. */
  lineage: LineageController;
  /** Give it every health observation: it keeps the member list on disk. */
  observed(o: ClusterObservation): void;
}

/** Disaster recovery, wired once for the conductor: snapshots, the lineage check, the member list kept for `restore`. */
export function createRecoveryParts(d: RecoveryWiringDeps): RecoveryParts {
  const snapshots = new SnapshotController(d.config, () => ({ endpoint: localClientUrl(d.config), tls: d.adminTls() }), d.logger);
  const members = new KnownMembersRecorder(d.store);
  const lineage = new LineageController({
    config: d.config,
    store: d.store,
    formed: () => d.state.formed!,
    enrollment: () => d.state.enrollment!,
    observation: d.observation,
    tls: d.adminTls,
    logger: d.logger,
    superseded: async (evidence) => {
      const { stateAside, dataAside } = await stepAside(d.config, d.stopEtcd);
      const why = `cluster ${evidence.oldClusterId} was restored from a snapshot into cluster ${evidence.record.clusterId} by ${evidence.record.by} (${evidence.url} serves it)`;
      d.logger.warn({ component: 'lineage', stateAside, dataAside }, `${why}: etcd stopped, state and data set aside; joining the new cluster as a new member`);
      await d.becomeNew(`${why}; old data kept in ${dataAside ?? '(no data dir)'}; joining the new cluster as a new member`);
    },
  });
  return {
    snapshots,
    lineage,
    observed: (o) => {
      members.record(o).catch((err: unknown) => d.logger.warn({ component: 'health', err: describeError(err) }, 'could not keep the member list'));
    },
  };
}
