import { hasHttpStatus } from '../../util/error-catalogue.js';
import { describeError, isAgentError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { admitCertificate, admitClientName, type Admission, type GateState, type MemberFacts, type PeerCaller } from '../admission.js';
import type { AgentConfig } from '../config/types.js';
import { PeerApiError } from '../peer/errors.js';
import type {
  ClientCertificateRequest,
  ClientCertificateResponse,
  EnrollRequest,
  EnrollResponse,
  RenewRequest,
  RenewResponse,
  View,
} from '../peer/protocol.js';
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
    /** etcd's member list and `nodes/*` records (renew and client decisions read them first). */
    private readonly members: () => Promise<MemberFacts> = () => Promise.reject(new Error('no etcd access')),
  ) {}

  holderFor(view: View): Promise<CaHolder> {
    this.holder ??= CaHolder.open(
      this.store,
      view,
      {
        clusterName: this.config.cluster.name,
        certValidityMs: this.config.pki.certValidityMs,
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
    const identity = this.admitted(caller, admitCertificate(caller, gate, 'enroll'), 'asked for a certificate');
    const holder = await this.holderFor(gate.view ?? []);
    return this.signing(caller, () => holder.sign(identity, request));
  }

  /** POST /v1/renew, or this node renewing itself (caller via 'self'). */
  async serveRenew(caller: PeerCaller, gate: GateState, request: RenewRequest): Promise<RenewResponse> {
    const state = await this.withMembers(caller, gate);
    const identity = this.admitted(caller, admitCertificate(caller, state, 'renew'), 'asked to renew its certificates');
    const holder = await this.holderFor(gate.view ?? []);
    const how = caller.via === 'token' ? 're-enrolled with the join token (its certificate had expired)' : caller.via === 'self' ? 'itself' : 'over its cluster certificate';
    return this.signing(caller, () => holder.renew(identity, request, how));
  }

  /** POST /v1/client-certificate (`etcd-agent cert issue` on a member). */
  async serveClientCertificate(caller: PeerCaller, gate: GateState, request: ClientCertificateRequest): Promise<ClientCertificateResponse> {
    const state = await this.withMembers(caller, gate);
    const by = this.admitted(caller, admitCertificate(caller, state, 'client'), `asked for a client certificate "${request.name}"`);
    const nameRefused = admitClientName(request.name, state);
    if (nameRefused) {
      this.refused(whoIs(caller), `asked for a client certificate: ${nameRefused.reason}`);
      throw new PeerApiError(nameRefused.code, nameRefused.reason);
    }
    const holder = await this.holderFor(gate.view ?? []);
    return this.signing(caller, () => holder.signClient(by, request.name, request.csr, request.validitySeconds * 1000));
  }

  /** The gate's state plus what etcd says about members, read only where it can matter (this node holds the CA). */
  private async withMembers(caller: PeerCaller, gate: GateState): Promise<GateState> {
    if (!gate.holder || caller.via === 'self' || !gate.formed) return gate;
    try {
      return { ...gate, members: await this.members() };
    } catch (err) {
      this.logger.warn({ component: 'ca', err: describeError(err) }, 'could not read the members from etcd for a certificate decision');
      return { ...gate, members: undefined };
    }
  }

  private admitted(caller: PeerCaller, admission: Admission, what: string): Extract<Admission, { admitted: true }>['identity'] {
    if (admission.admitted) return admission.identity;
    if (admission.code === 'EA_PEER_FORBIDDEN') this.refused(whoIs(caller), `${what}: ${admission.reason}`);
    throw new PeerApiError(admission.code, admission.reason);
  }

  private signing<T>(caller: PeerCaller, sign: () => T): T {
    try {
      return sign();
    } catch (err) {
      // A refused CSR (the policy's codes carry an HTTP status) is the caller's fault: answer it and record it.
      if (isAgentError(err) && hasHttpStatus(err.code)) {
        this.refused(whoIs(caller), err.message);
        throw new PeerApiError(err.code, err.message);
      }
      throw err;
    }
  }
}

function whoIs(caller: PeerCaller): string {
  return caller.via === 'token' ? `${caller.info.name} (${caller.info.nodeId})` : caller.via === 'ca' ? caller.commonName : 'this node';
}
