import { failpoint } from '../../util/failpoint.js';
import type { AgentConfig } from '../config/types.js';
import type { EtcdService } from '../controllers/etcd-service.js';
import type { HealthController } from '../controllers/health.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';
import { writeEtcdFiles } from '../files/etcd-files.js';
import type { PkiPaths } from '../files/pki-files.js';
import type { Enrollment, FormedMarker, StateStore } from './state-store.js';

export interface BringUpParts {
  config: AgentConfig;
  pki: PkiPaths;
  store: StateStore;
  etcd: EtcdService;
  health: HealthController;
  say: (phase: 'starting-etcd' | 'forming' | 'formed', reason: string) => void;
  /** Before this node calls the cluster formed: the CA's maker seals its escrow (CaRoleController.sealAtFormation). */
  sealEscrow: () => Promise<void>;
}

/**
 * One step of bring-up: etcd runs from `new` files; once every initial
 * member is up and there is a leader, etcd.conf flips to `existing` and the
 * formed marker is persisted, after which nothing on this node bootstraps
 * again. Returns the marker once formed.
 */
export async function bringUpStep(
  enrollment: Enrollment,
  parts: BringUpParts,
): Promise<{ formed: FormedMarker | undefined; observation: ClusterObservation }> {
  const did = await parts.etcd.ensureRunning(enrollment, 'new');
  if (did) parts.say('starting-etcd', did);
  parts.say('forming', `waiting for all ${enrollment.view.length} initial members to start and elect a leader`);
  const observation = await parts.health.observe(true);
  if (!observation.complete || !observation.clusterId || !observation.localMemberId) {
    parts.say('forming', observation.reason);
    return { formed: undefined, observation };
  }
  // etcd answered as a member of a complete cluster: its data is written.
  await parts.etcd.firstStartDone();
  // The CA can move to another member from the first moment the cluster is formed.
  await parts.sealEscrow();
  await writeEtcdFiles(parts.config, enrollment, 'existing', parts.pki);
  failpoint('conf-existing-before-formed');
  const formed: FormedMarker = {
    clusterName: parts.config.cluster.name,
    clusterId: observation.clusterId,
    memberId: observation.localMemberId,
    formedAt: new Date().toISOString(),
  };
  await parts.store.saveFormed(formed);
  parts.say('formed', observation.reason);
  return { formed, observation };
}
