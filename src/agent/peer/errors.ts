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
export const clusterMismatch = (theirs: string, ours: string): PeerApiError =>
  new PeerApiError(
    403,
    'EA_PEER_CLUSTER_MISMATCH',
    `this agent belongs to cluster "${ours}", not "${theirs}"; check cluster.name on both hosts`,
  );
export const notAllowed = (what: string): PeerApiError => new PeerApiError(403, 'EA_PEER_FORBIDDEN', what);
export const notReady = (what: string): PeerApiError => new PeerApiError(409, 'EA_PEER_NOT_READY', what);
export const badPeerRequest = (what: string): PeerApiError => new PeerApiError(400, 'EA_PEER_BAD_REQUEST', what);
export const identityRefused = (why: string): PeerApiError =>
  new PeerApiError(
    403,
    'EA_PEER_IDENTITY',
    `this agent does not accept who you say you are: ${why}; every agent must use its own state dir and node key, and a unique name and address`,
  );
