import type { EtcdTls } from '../etcd/client.js';
import { readAdmitted } from '../etcd/records.js';
import type { GateState, PeerCaller } from './admission.js';
import { MembershipController } from './controllers/membership.js';
import type { PlanRule } from './controllers/membership-plan.js';
import { UnhealthySince } from './controllers/unhealthy-since.js';
import { localClientUrl } from './files/etcd-files.js';
import { JoinServer, type JoinServerDeps } from './join/join-server.js';
import { Joiner } from './join/joiner.js';
import { candidateOf } from './peer/tracker.js';
import type { AgentContext } from './wiring-context.js';

/** What the membership parts need from the conductor (late-bound: the peer parts exist only after start()). */
export interface MembershipWiringDeps extends AgentContext {
  enrolled: () => void;
  /** Repair rules put in front of the join rules. */
  rules?: readonly PlanRule[];
  beforeRemoval?: (reason: string) => Promise<void>;
  /** Answers join requests for `wiped` and `removed` (the repair half). */
  otherReason?: JoinServerDeps['otherReason'];
}

export interface MembershipParts {
  controller: MembershipController;
  joinServer: JoinServer;
  joiner: Joiner;
  unhealthy: UnhealthySince;
  /** The admission gate's state for a certificate request, with the caller's admission read from etcd first. */
  gateFor(caller: PeerCaller): Promise<GateState>;
}

/**
 * Joining and membership, wired once for the conductor: the controller (on
 * every formed member), the /v1/join route, the joiner side of a fresh agent,
 * and the admitted-joiner lookup that the CA holder's gate needs.
 */
export function createMembershipParts(d: MembershipWiringDeps): MembershipParts {
  const localUrl = localClientUrl(d.config);
  const tls = (): EtcdTls => d.creds().adminTls();
  const self = () => candidateOf(d.state.selfInfo());
  const controller = new MembershipController({
    config: d.config,
    logger: d.logger,
    self,
    tls,
    localUrl,
    observation: d.observation,
    initialSize: () => d.state.committed?.view.length,
    caHolderName: () => d.state.caHolder()?.name,
    ...(d.rules ? { rules: d.rules } : {}),
    ...(d.beforeRemoval ? { beforeRemoval: d.beforeRemoval } : {}),
  });
  const joinServer = new JoinServer({
    config: d.config,
    logger: d.logger,
    formed: () => Boolean(d.state.formed),
    observation: d.observation,
    tls,
    localUrl,
    caHolder: () => d.state.caHolder(),
    refused: d.refused,
    joinRecorded: () => controller.lookSoon(),
    ...(d.otherReason ? { otherReason: d.otherReason } : {}),
  });
  const joiner = new Joiner(d);
  const gateFor = async (caller: PeerCaller): Promise<GateState> => {
    const gate = d.state.gate();
    // Only a formed CA holder asked over the token needs to know whom the membership controller admitted.
    if (!gate.formed || !gate.holder || caller.via !== 'token') return gate;
    const record = await readAdmitted({ endpoints: [localUrl], tls: tls(), timeoutMs: 3000 }, d.config.cluster.name, caller.info.nodeId);
    return { ...gate, admitted: record?.candidate };
  };
  return { controller, joinServer, joiner, unhealthy: new UnhealthySince(), gateFor };
}
