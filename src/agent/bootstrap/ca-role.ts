import { hasHttpStatus } from '../../util/error-catalogue.js';
import { describeError, isAgentError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { admitCertificate, admitClientName, type Admission, type GateState, type MemberFacts, type PeerCaller } from '../admission.js';
import type { AgentConfig } from '../config/types.js';
import type { CertificateAuthority } from '../../pki/index.js';
import { PeerApiError } from '../peer/errors.js';
import type {
  Candidate,
  ClientCertificateRequest,
  ClientCertificateResponse,
  EnrollRequest,
  EnrollResponse,
  RenewRequest,
  RenewResponse,
  View,
} from '../peer/protocol.js';
import { CaHolder, type CaHolderOptions } from './ca-holder.js';
import type { Enrollment, StateStore } from './state-store.js';

/** The CA-role election as CaRole needs it (controllers/ca-role.ts). */
export interface CaElection {
  currentHolder(): Candidate | undefined;
  holdsRole(): boolean;
  /** Asks etcd whether this node holds the role right now; false when it does not answer. */
  confirm(): Promise<boolean>;
  /** The CA to sign with while this node holds the role. */
  signingCa(): CertificateAuthority | undefined;
}

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
    private readonly election: CaElection,
    /** This node's progress: formed or not, and its enrollment record (the cluster token and view it hands out). */
    private readonly node: () => { formed: boolean; enrollment: Enrollment | undefined },
    /** etcd's member list and `nodes/*` records (renew and client decisions read them first). */
    private readonly members: () => Promise<MemberFacts> = () => Promise.reject(new Error('no etcd access')),
  ) {}

  /** Who signs now, as last observed (never waits on etcd): join answers and renewals go there. */
  currentHolder(): Candidate | undefined {
    return this.election.currentHolder();
  }

  /** This node holds the CA role (after formation), as far as it knows without asking etcd. */
  holdsRole(): boolean {
    return this.election.holdsRole();
  }

  /**
   * Who signs, for a request the gate admitted. Before formation: the CA
   * holder of the agreed view (it makes the CA on first use). After
   * formation: this node only while etcd confirms it holds the CA role (else
   * EA_PEER_FORBIDDEN naming the holder), and never a new CA.
   */
  async holderFor(view: View): Promise<CaHolder> {
    if (!this.node().formed) return this.bootstrapHolder(view);
    if (!(await this.election.confirm())) throw new PeerApiError('EA_PEER_FORBIDDEN', notHolder(this.election.currentHolder()?.name));
    return this.electedSigner();
  }

  private bootstrapHolder(view: View): Promise<CaHolder> {
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

  /** Who signs, for a gate (from gateNow) that admitted the request: no second look at etcd. */
  async signerFor(gate: GateState): Promise<CaHolder> {
    return gate.formed ? this.electedSigner() : this.bootstrapHolder(gate.view ?? []);
  }

  /** The CA this node holds the role with (its own key, or the escrow's). */
  private electedSigner(): CaHolder {
    const ca = this.election.signingCa();
    const enrollment = this.node().enrollment;
    if (!ca || !enrollment) throw new PeerApiError('EA_PEER_FORBIDDEN', notHolder(this.election.currentHolder()?.name));
    if (this.signer?.certPem !== ca.certPem) {
      this.signer = { certPem: ca.certPem, holder: CaHolder.fromMaterial(ca, enrollment.initialClusterToken, enrollment.view, this.holderOptions(), this.logger) };
    }
    return this.signer.holder;
  }

  async serveEnroll(caller: PeerCaller, gate: GateState, request: EnrollRequest): Promise<EnrollResponse> {
    const now = await this.gateNow(gate);
    const identity = this.admitted(caller, admitCertificate(caller, now, 'enroll'), 'asked for a certificate');
    const holder = await this.signerFor(now);
    return this.signing(caller, () => holder.sign(identity, request));
  }

  /** POST /v1/renew, or this node renewing itself (caller via 'self'). */
  async serveRenew(caller: PeerCaller, gate: GateState, request: RenewRequest): Promise<RenewResponse> {
    const now = await this.withMembers(caller, await this.gateNow(gate));
    const identity = this.admitted(caller, admitCertificate(caller, now, 'renew'), 'asked to renew its certificates');
    const holder = await this.signerFor(now);
    const how = caller.via === 'token' ? 're-enrolled with the join token (its certificate had expired)' : caller.via === 'self' ? 'itself' : 'over its cluster certificate';
    return this.signing(caller, () => holder.renew(identity, request, how));
  }

  /** POST /v1/client-certificate (`etcd-agent cert issue` on a member). */
  async serveClientCertificate(caller: PeerCaller, gate: GateState, request: ClientCertificateRequest): Promise<ClientCertificateResponse> {
    const now = await this.withMembers(caller, await this.gateNow(gate));
    const by = this.admitted(caller, admitCertificate(caller, now, 'client'), `asked for a client certificate "${request.name}"`);
    const nameRefused = admitClientName(request.name, now);
    if (nameRefused) {
      this.refused(whoIs(caller), `asked for a client certificate: ${nameRefused.reason}`);
      throw new PeerApiError(nameRefused.code, nameRefused.reason);
    }
    const holder = await this.signerFor(now);
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

  private holderOptions(): CaHolderOptions {
    return {
      clusterName: this.config.cluster.name,
      certValidityMs: this.config.pki.certValidityMs,
      caValidityDays: this.config.pki.caValidityDays,
    };
  }
}

function notHolder(holderName: string | undefined): string {
  if (holderName) return `this agent is not the CA holder; ${holderName} is`;
  return 'this agent is not the CA holder, and no member holds the CA role right now (an election is under way); retry shortly';
}

function whoIs(caller: PeerCaller): string {
  return caller.via === 'token' ? `${caller.info.name} (${caller.info.nodeId})` : caller.via === 'ca' ? caller.commonName : 'this node';
}
