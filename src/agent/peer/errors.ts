import { httpStatusOf, type HttpErrorCode } from '../../util/error-catalogue.js';
import { AgentError } from '../../util/errors.js';

/** An error the peer API answers with: our stable code plus the HTTP status the catalogue gives it. */
export class PeerApiError extends AgentError {
  readonly httpStatus: number;

  constructor(code: HttpErrorCode, message: string) {
    super(code, message);
    this.name = 'PeerApiError';
    this.httpStatus = httpStatusOf(code);
  }
}

export const helloRequired = (): PeerApiError =>
  new PeerApiError('EA_PEER_HELLO_REQUIRED', 'authenticate first: POST /v1/hello/start with the cluster token proof');
export const tokenProofRejected = (): PeerApiError =>
  new PeerApiError('EA_PEER_TOKEN_PROOF', 'token proof does not match: this agent does not hold the cluster join token');
/** Says neither name: before the token is proved, the caller learns nothing about this cluster. */
export const clusterMismatch = (): PeerApiError =>
  new PeerApiError('EA_PEER_CLUSTER_MISMATCH', 'this agent serves another cluster; check cluster.name on both hosts');
/** The server nonce was ours but its hello is gone (expired, dropped under load, or used): not a token problem. */
export const helloExpired = (): PeerApiError =>
  new PeerApiError(
    'EA_PEER_HELLO_EXPIRED',
    'this hello is no longer pending here (it expired, was already used, or was dropped while the agent was busy); start again with POST /v1/hello/start',
  );
export const badPeerRequest = (what: string): PeerApiError => new PeerApiError('EA_PEER_BAD_REQUEST', what);
export const identityRefused = (why: string): PeerApiError =>
  new PeerApiError(
    'EA_PEER_IDENTITY',
    `this agent does not accept who you say you are: ${why}; every agent must use its own state dir and node key, and a unique name and address`,
  );
