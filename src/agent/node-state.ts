import type { GateState } from './admission.js';
import { caHolderOf, type Proposal } from './bootstrap/election.js';
import type { CommittedView, Enrollment, FormedMarker, StateStore } from './bootstrap/state-store.js';
import type { AgentConfig } from './config/types.js';
import { PROTOCOL_VERSION, type Candidate, type PeerInfo, type PeerStage, type ViewReport } from './peer/protocol.js';

/** The CA role after formation, as this node last saw it (never waits on etcd). */
export interface RoleView {
  holdsRole(): boolean;
  currentHolder(): Candidate | undefined;
}

/**
 * How far this node has come, as persisted: the agreed view, its enrollment,
 * the formed marker (plus the view it would propose now, in memory). Each
 * record is written once and never changed, so this only ever moves forward.
 */
export class NodeState {
  committed: CommittedView | undefined;
  enrollment: Enrollment | undefined;
  formed: FormedMarker | undefined;
  proposal: Proposal | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly version: string,
    private readonly nodeId: () => string,
    private readonly role?: RoleView,
  ) {}

  async load(store: StateStore): Promise<void> {
    this.committed = await store.view();
    this.enrollment = await store.enrollment();
    this.formed = await store.formed();
  }

  /** What this node says about itself in a hello. */
  selfInfo(): PeerInfo {
    return {
      protocol: PROTOCOL_VERSION,
      clusterName: this.config.cluster.name,
      nodeId: this.nodeId(),
      name: this.config.node.name,
      address: this.config.node.advertiseAddress,
      peerApiPort: this.config.peerApi.port,
      etcdPeerPort: this.config.etcd.peerPort,
      etcdClientPort: this.config.etcd.clientPort,
      version: this.version,
      stage: this.stage(),
    };
  }

  stage(): PeerStage {
    if (this.formed) return 'formed';
    if (this.enrollment) return 'enrolled';
    if (this.committed) return 'committed';
    return 'fresh';
  }

  /** What GET /v1/view answers. */
  viewReport(): ViewReport {
    const proposal = this.proposal;
    return {
      nodeId: this.nodeId(),
      committed: this.committed?.view ?? null,
      proposed: proposal && proposal.kind !== 'waiting' ? proposal.view : null,
      formed: Boolean(this.formed),
    };
  }

  /**
   * What the admission gate needs to know of this node. The CA holder is the
   * lowest id of the agreed view while forming; after formation it is whoever
   * holds the CA role in etcd's election (a former holder is not).
   */
  gate(): GateState {
    const view = this.committed?.view;
    const selfId = this.nodeId();
    const base = { selfId, selfName: this.config.node.name, selfAddress: this.config.node.advertiseAddress, view, formed: Boolean(this.formed) };
    if (this.formed) return { ...base, holder: this.role?.holdsRole() ?? false, holderName: this.role?.currentHolder()?.name };
    const holder = view ? caHolderOf(view) : undefined;
    return { ...base, holder: holder?.nodeId === selfId, holderName: holder?.name };
  }
}
