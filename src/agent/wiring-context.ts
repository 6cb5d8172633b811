import type { PeerSet } from '../discovery/index.js';
import type { Logger } from '../util/log.js';
import type { StateStore } from './bootstrap/state-store.js';
import type { AgentConfig } from './config/types.js';
import type { ClusterObservation } from './controllers/cluster-health.js';
import type { EtcdService } from './controllers/etcd-service.js';
import type { NodeCredentials } from './credentials.js';
import type { PkiPaths } from './files/pki-files.js';
import type { NodeState } from './node-state.js';
import type { PeerClient } from './peer/client.js';
import type { PeerTracker } from './peer/tracker.js';
import type { Phase } from './status/phase.js';

/**
 * What the conductor hands every wiring module (membership, repair,
 * certificates, recovery): its shared pieces, built once in Agent.start().
 * The functions are late-bound because the peer parts exist only after the
 * state is loaded; each module's own deps extend this with what only it needs.
 */
export interface AgentContext {
  config: AgentConfig;
  logger: Logger;
  store: StateStore;
  state: NodeState;
  pki: PkiPaths;
  etcd: EtcdService;
  creds: () => NodeCredentials;
  client: () => PeerClient;
  tracker: () => PeerTracker;
  peerSet: () => PeerSet;
  observation: () => ClusterObservation | undefined;
  /** Sets the phase and its reason (status, sd-notify, log). */
  say: (phase: Phase, reason: string) => void;
  /** Records a refused peer request for /status. */
  refused: (who: string, reason: string) => void;
  /** Runs the main loop's next step now. */
  wake: () => void;
}
