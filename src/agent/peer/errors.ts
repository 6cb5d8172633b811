import { AgentError } from '../../util/errors.js';

/** An error the peer API answers with: HTTP status plus our stable code. */
export class PeerApiError extends AgentError {
  constructor(
    readonly httpStatus: number,
    code: string,
    message: string,
  ) {
    super(code, message);
    this.name = 'PeerApiError';
  }
}

export const helloRequired = (): PeerApiError =>
  new PeerApiError(401, 'EA_PEER_HELLO_REQUIRED', 'authenticate first: POST /v1/hello/start with the cluster token proof');
export const tokenProofRejected = (): PeerApiError =>
  new PeerApiError(403, 'EA_PEER_TOKEN_PROOF', 'token proof does not match: this agent does not hold the cluster join token');
/** Says neither name: before the token is proved, the caller learns nothing about this cluster. */
export const clusterMismatch = (): PeerApiError =>
  new PeerApiError(403, 'EA_PEER_CLUSTER_MISMATCH', 'this agent serves another cluster; check cluster.name on both hosts');
/** The server nonce was ours but its hello is gone (expired, dropped under load, or used): not a token problem. */
export const helloExpired = (): PeerApiError =>
  new PeerApiError(
    403,
    'EA_PEER_HELLO_EXPIRED',
    'this hello is no longer pending here (it expired, was already used, or was dropped while the agent was busy); start again with POST /v1/hello/start',
  );
export const notAllowed = (what: string): PeerApiError => new PeerApiError(403, 'EA_PEER_FORBIDDEN', what);
export const notReady = (what: string): PeerApiError => new PeerApiError(409, 'EA_PEER_NOT_READY', what);
export const badPeerRequest = (what: string): PeerApiError => new PeerApiError(400, 'EA_PEER_BAD_REQUEST', what);
