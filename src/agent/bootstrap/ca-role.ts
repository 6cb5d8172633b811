import { hasHttpStatus } from '../../util/error-catalogue.js';
import { isAgentError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { admitCertificate, type GateState, type PeerCaller } from '../admission.js';
import type { AgentConfig } from '../config/types.js';
import type { CaRoleController } from '../controllers/ca-role.js';
import { PeerApiError } from '../peer/errors.js';
import type { Candidate, EnrollRequest, EnrollResponse, View } from '../peer/protocol.js';
import { CaHolder, type CaHolderOptions } from './ca-holder.js';
import type { Enrollment, StateStore } from './state-store.js';

/**
 * This node's side of certificate requests: asks the admission gate, then
 * has the CA sign. Before formation the CA holder is the lowest id of the
 * agreed view, and it makes the CA (memoised as a promise: enroll requests
 * arrive concurrently and there must be exactly one CA). After formation
 * the holder is whoever holds the CA role in etcd's election (see
 * controllers/ca-role.ts); it is asked of etcd right before signing, so a
 * former holder signs nothing, and a formed node never makes a CA.
 */
export class CaRole {
  private holder: Promise<CaHolder> | undefined;
  private signer: { certPem: string; holder: CaHolder } | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly config: AgentConfig,
    private readonly logger: Logger,
    private readonly refused: (who: string, reason: string) => void,
    private readonly election: CaRoleController,
    private readonly enrollment: () => Enrollment | undefined,
  ) {}

  /** Who signs now, as last observed (never waits on etcd): join answers and renewals go there. */
  currentHolder(): Candidate | undefined {
    return this.election.currentHolder();
  }

  /** This node holds the CA role (after formation), as far as it knows without asking etcd. */
  holdsRole(): boolean {
    return this.election.holdsRole();
  }

  /** Bootstrap only: the CA holder of the agreed view (makes the CA on first use). */
  holderFor(view: View): Promise<CaHolder> {
    this.holder ??= CaHolder.open(this.store, view, this.holderOptions(), this.logger);
    this.holder.catch(() => {
      this.holder = undefined;
    });
    return this.holder;
  }

  /**
   * The gate's state right before a signature: after formation, `holder` is
   * whether etcd says this node leads the CA-role election now (a
   * linearizable read), not what it last believed.
   */
  async gateNow(gate: GateState): Promise<GateState> {
    if (!gate.formed) return gate;
    return { ...gate, holder: await this.election.confirm(), holderName: this.election.currentHolder()?.name };
  }

  /** Who signs, for a gate that admitted the request (gateNow). */
  async signerFor(gate: GateState): Promise<CaHolder> {
    if (!gate.formed) return this.holderFor(gate.view ?? []);
    const ca = this.election.signingCa();
    const enrollment = this.enrollment();
    if (!ca || !enrollment) throw new PeerApiError('EA_PEER_FORBIDDEN', 'this agent does not hold the CA role');
    if (this.signer?.certPem !== ca.certPem) {
      this.signer = { certPem: ca.certPem, holder: CaHolder.fromMaterial(ca, enrollment.initialClusterToken, enrollment.view, this.holderOptions(), this.logger) };
    }
    return this.signer.holder;
  }

  async serveEnroll(caller: PeerCaller, gate: GateState, request: EnrollRequest): Promise<EnrollResponse> {
    const who = caller.via === 'token' ? `${caller.info.name} (${caller.info.nodeId})` : caller.via === 'ca' ? caller.commonName : 'this node';
    const now = await this.gateNow(gate);
    const admission = admitCertificate(caller, now, 'enroll');
    if (!admission.admitted) {
      if (admission.code === 'EA_PEER_FORBIDDEN') this.refused(who, `asked for a certificate: ${admission.reason}`);
      throw new PeerApiError(admission.code, admission.reason);
    }
    const holder = await this.signerFor(now);
    try {
      return holder.sign(admission.identity, request);
    } catch (err) {
      // A refused CSR (the policy's codes carry an HTTP status) is the caller's fault: answer it and record it.
      if (isAgentError(err) && hasHttpStatus(err.code)) {
        this.refused(who, err.message);
        throw new PeerApiError(err.code, err.message);
      }
      throw err;
    }
  }

  private holderOptions(): CaHolderOptions {
    return {
      clusterName: this.config.cluster.name,
      certValidityDays: this.config.pki.certValidityMs / 86_400_000,
      caValidityDays: this.config.pki.caValidityDays,
    };
  }
}
