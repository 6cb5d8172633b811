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
export const clusterMismatch = (theirs: string, ours: string): PeerApiError =>
  new PeerApiError(
    'EA_PEER_CLUSTER_MISMATCH',
    `this agent belongs to cluster "${ours}", not "${theirs}"; check cluster.name on both hosts`,
  );
export const badPeerRequest = (what: string): PeerApiError => new PeerApiError('EA_PEER_BAD_REQUEST', what);
export const identityRefused = (why: string): PeerApiError =>
  new PeerApiError(
    'EA_PEER_IDENTITY',
    `this agent does not accept who you say you are: ${why}; every agent must use its own state dir and node key, and a unique name and address`,
  );
