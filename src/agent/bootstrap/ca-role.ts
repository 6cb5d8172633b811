import { hasHttpStatus } from '../../util/error-catalogue.js';
import { isAgentError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { admitCertificate, type GateState, type PeerCaller } from '../admission.js';
import type { AgentConfig } from '../config/types.js';
import { PeerApiError } from '../peer/errors.js';
import type { EnrollRequest, EnrollResponse, View } from '../peer/protocol.js';
import { CaHolder } from './ca-holder.js';
import type { StateStore } from './state-store.js';

/**
 * This node's side of certificate requests: asks the admission gate, then
 * has the CA holder sign. The holder is memoised as a promise: enroll
 * requests arrive concurrently and there must be exactly one CA.
 */
export class CaRole {
  private holder: Promise<CaHolder> | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly config: AgentConfig,
    private readonly logger: Logger,
    private readonly refused: (who: string, reason: string) => void,
  ) {}

  holderFor(view: View): Promise<CaHolder> {
    this.holder ??= CaHolder.open(
      this.store,
      view,
      {
        clusterName: this.config.cluster.name,
        certValidityDays: this.config.pki.certValidityMs / 86_400_000,
        caValidityDays: this.config.pki.caValidityDays,
      },
      this.logger,
    );
    this.holder.catch(() => {
      this.holder = undefined;
    });
    return this.holder;
  }

  async serveEnroll(caller: PeerCaller, gate: GateState, request: EnrollRequest): Promise<EnrollResponse> {
    const who = caller.via === 'token' ? `${caller.info.name} (${caller.info.nodeId})` : caller.via === 'ca' ? caller.commonName : 'this node';
    const admission = admitCertificate(caller, gate, 'enroll');
    if (!admission.admitted) {
      if (admission.code === 'EA_PEER_FORBIDDEN') this.refused(who, `asked for a certificate: ${admission.reason}`);
      throw new PeerApiError(admission.code, admission.reason);
    }
    const holder = await this.holderFor(gate.view ?? []);
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
}
