import type { GateState } from './admission.js';
import { caHolderOf, type Proposal } from './bootstrap/election.js';
import type { CommittedView, Enrollment, FormedMarker, JoinState, StateStore } from './bootstrap/state-store.js';
import type { AgentConfig } from './config/types.js';
import { PROTOCOL_VERSION, type Candidate, type PeerInfo, type PeerStage, type ViewReport } from './peer/protocol.js';

/**
 * How far this node has come, as persisted: the agreed view, its enrollment,
 * the formed marker (plus the view it would propose now, in memory). Each
 * record is written once and never changed, so this only ever moves forward.
 */
export class NodeState {
  committed: CommittedView | undefined;
  /** A joiner's admission (a node that joins a formed cluster instead of forming one). */
  joinState: JoinState | undefined;
  enrollment: Enrollment | undefined;
  formed: FormedMarker | undefined;
  proposal: Proposal | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly version: string,
    private readonly nodeId: () => string,
  ) {}

  async load(store: StateStore): Promise<void> {
    this.committed = await store.view();
    this.joinState = await store.joinState();
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
      // An admitted joiner belongs to a formed cluster too: fresh agents that see only it must not bootstrap.
      formed: Boolean(this.formed || this.joinState),
    };
  }

  /** This node joins (or joined) a formed cluster rather than forming one. */
  joining(): boolean {
    return Boolean(this.joinState || this.enrollment?.joined);
  }

  /** Who signs certificates, as this node knows it: the lowest id of its view, or what its admission said. */
  caHolder(): Candidate | undefined {
    if (this.committed) return caHolderOf(this.committed.view);
    return this.joinState?.caHolder;
  }

  /** What the admission gate needs to know of this node. */
  gate(): GateState {
    const view = this.committed?.view;
    const holder = view ? caHolderOf(view) : undefined;
    const selfId = this.nodeId();
    return {
      selfId,
      selfName: this.config.node.name,
      selfAddress: this.config.node.advertiseAddress,
      view,
      formed: Boolean(this.formed),
      holder: holder?.nodeId === selfId,
      holderName: holder?.name,
    };
  }
}
