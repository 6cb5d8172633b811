/**
 * Messages of the agent peer API (HTTPS, port 2390) and their JSON schemas.
 * Every body is schema-checked with additionalProperties:false and bounded
 * lengths, so a hostile peer cannot grow our memory or smuggle fields; every
 * string a peer sends has a pattern without control characters, so nothing it
 * says can reach a log line or the operator's terminal as an escape sequence.
 */

/** 2: hello/start answers only the server nonce (who the server is comes with the finish). */
export const PROTOCOL_VERSION = 2;
export const MAX_BODY_BYTES = 64 * 1024;

export interface Candidate {
  nodeId: string;
  name: string;
  address: string;
  peerApiPort: number;
  etcdPeerPort: number;
  etcdClientPort: number;
}

export type View = Candidate[];

/** What a peer says about its view when asked. */
export interface ViewReport {
  nodeId: string;
  /** The view it persisted, if any. Never changes once set. */
  committed: View | null;
  /** The view it would propose now (the `size` lowest ids it has authenticated). */
  proposed: View | null;
  /** It belongs to a cluster that has already formed. */
  formed: boolean;
}

export type PeerStage = 'fresh' | 'committed' | 'enrolled' | 'formed';

/** What an agent says about itself in a hello: its election candidate data plus where it stands. */
export interface PeerInfo extends Candidate {
  protocol: number;
  clusterName: string;
  version: string;
  stage: PeerStage;
}

export interface HelloStartRequest {
  clusterName: string;
  clientNonce: string;
}
/**
 * Nothing about the server before the caller has proved the token: who it is
 * comes with the finish answer. (A client recognises itself by the server
 * certificate: an agent serves and dials with the same one.)
 */
export interface HelloStartResponse {
  serverNonce: string;
}
export interface HelloFinishRequest {
  serverNonce: string;
  proof: string;
  info: PeerInfo;
}
/** Sent only after the client's proof checked out; now the server proves itself. */
export interface HelloFinishResponse {
  proof: string;
  info: PeerInfo;
}

export interface EnrollRequest {
  nodeCsr: string;
  clientCsr: string;
}
export interface EnrollResponse {
  clusterName: string;
  certificate: string;
  clientCertificate: string;
  caCertificate: string;
  initialClusterToken: string;
  view: View;
}

/**
 * POST /v1/renew: a member asks the CA holder to sign its server and admin
 * client certificates again, for the same names and the same server key (the
 * node id is that key's id, so the key is never rotated). Asked over the
 * member's cluster certificate; a member whose certificate has expired asks
 * over a token session instead (see admission.ts).
 */
export type RenewRequest = EnrollRequest;
export interface RenewResponse {
  certificate: string;
  clientCertificate: string;
  caCertificate: string;
}

/**
 * POST /v1/client-certificate: `etcd-agent cert issue` on a member asks the CA
 * holder, over that member's cluster certificate, for a consumer's client
 * certificate: CN = name, clientAuth only, no SANs.
 */
export interface ClientCertificateRequest {
  name: string;
  csr: string;
  validitySeconds: number;
}
export interface ClientCertificateResponse {
  certificate: string;
  caCertificate: string;
}

/**
 * POST /v1/join: an agent asks a member of the formed cluster to be let in.
 * Asked again every few seconds while it waits; each ask keeps its place in
 * the queue (`joins/<nodeId>` on a short lease), so a joiner that goes away
 * drops out by itself.
 * - `fresh`: a new agent (token session);
 * - `wiped`: a formed member whose etcd data dir is empty (its cluster certificate);
 * - `removed`: a formed member whose etcd member was removed from the cluster.
 */
export interface JoinRequest {
  candidate: Candidate;
  reason: 'fresh' | 'wiped' | 'removed';
}

export interface InitialClusterEntry {
  name: string;
  peerUrl: string;
}

/** What a joiner needs once the membership controller added it as a learner. */
export interface JoinAdmission {
  /** Hex, as etcdctl prints it. */
  memberId: string;
  clusterId: string;
  /** Every member (itself included) for ETCD_INITIAL_CLUSTER with state `existing`. */
  initialCluster: InitialClusterEntry[];
  /** Client URLs of the other members (to watch its own promotion). */
  clientUrls: string[];
}

export interface JoinResponse {
  /** queued: will be added when its turn comes; spare: the cluster is full, it replaces the first member that fails. */
  state: 'queued' | 'spare' | 'admitted' | 'refused';
  /** In words, for the joiner's /status. */
  reason: string;
  admission: JoinAdmission | null;
  /** Who signs certificates now (the joiner enrolls there once admitted). */
  caHolder: Candidate | null;
}

/** Error body of every non-2xx answer. */
export interface PeerErrorBody {
  code: string;
  message: string;
}

const nodeId = { type: 'string', pattern: '^[0-9a-f]{32}$' } as const;
const nonce = { type: 'string', minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const pem = { type: 'string', minLength: 64, maxLength: 16384, pattern: '^[A-Za-z0-9+/= \r\n-]+$' } as const;
/** The config's cluster.name rule. */
const clusterName = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' } as const;
/** A package version such as 0.1.0, 1.2.3-rc.1+build.5, or "unknown". */
const version = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z][0-9A-Za-z.+_-]*$' } as const;
/** An HMAC-SHA256 in base64url (see src/pki/hello-proof.ts). */
const proof = { type: 'string', minLength: 43, maxLength: 43, pattern: '^[A-Za-z0-9_-]+$' } as const;

export const peerInfoSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['protocol', 'clusterName', 'nodeId', 'name', 'address', 'peerApiPort', 'etcdPeerPort', 'etcdClientPort', 'version', 'stage'],
  properties: {
    protocol: { type: 'integer', minimum: 1, maximum: 1000 },
    clusterName,
    nodeId,
    name: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9._-]+$' },
    address: { type: 'string', minLength: 2, maxLength: 64, pattern: '^[0-9a-fA-F.:]+$' },
    peerApiPort: port,
    etcdPeerPort: port,
    etcdClientPort: port,
    version,
    stage: { type: 'string', enum: ['fresh', 'committed', 'enrolled', 'formed'] },
  },
} as const;

const candidateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeId', 'name', 'address', 'peerApiPort', 'etcdPeerPort', 'etcdClientPort'],
  properties: {
    nodeId,
    name: peerInfoSchema.properties.name,
    address: peerInfoSchema.properties.address,
    peerApiPort: port,
    etcdPeerPort: port,
    etcdClientPort: port,
  },
} as const;

const viewSchema = { type: 'array', maxItems: 15, items: candidateSchema } as const;

export const helloStartSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['clusterName', 'clientNonce'],
  properties: { clusterName, clientNonce: nonce },
} as const;

export const helloStartResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['serverNonce'],
  properties: { serverNonce: nonce },
} as const;

export const helloFinishResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['proof', 'info'],
  properties: { proof, info: peerInfoSchema },
} as const;

export const helloFinishSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['serverNonce', 'proof', 'info'],
  properties: { serverNonce: nonce, proof, info: peerInfoSchema },
} as const;

export const enrollSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeCsr', 'clientCsr'],
  properties: { nodeCsr: pem, clientCsr: pem },
} as const;

export const enrollResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['clusterName', 'certificate', 'clientCertificate', 'caCertificate', 'initialClusterToken', 'view'],
  properties: {
    clusterName,
    certificate: pem,
    clientCertificate: pem,
    caCertificate: pem,
    // It ends up in etcd.conf: a word, nothing that could start a new line.
    initialClusterToken: { type: 'string', minLength: 8, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' },
    view: viewSchema,
  },
} as const;

export const renewSchema = enrollSchema;

export const renewResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['certificate', 'clientCertificate', 'caCertificate'],
  properties: { certificate: pem, clientCertificate: pem, caCertificate: pem },
} as const;

/** 2 minutes (pki.certValidity's minimum) to 10 years. */
export const clientCertificateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'csr', 'validitySeconds'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    csr: pem,
    validitySeconds: { type: 'integer', minimum: 120, maximum: 3650 * 86400 },
  },
} as const;

export const clientCertificateResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['certificate', 'caCertificate'],
  properties: { certificate: pem, caCertificate: pem },
} as const;

const memberId = { type: 'string', minLength: 1, maxLength: 16, pattern: '^[0-9a-f]+$' } as const;
const url = { type: 'string', minLength: 8, maxLength: 256, pattern: '^https://[0-9A-Za-z.:\\[\\]-]+$' } as const;
const reasonText = { type: 'string', maxLength: 2000, pattern: '^[^\\u0000-\\u001f\\u007f]*$' } as const;

export const joinSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['candidate', 'reason'],
  properties: {
    candidate: candidateSchema,
    reason: { type: 'string', enum: ['fresh', 'wiped', 'removed'] },
  },
} as const;

export const joinResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state', 'reason', 'admission', 'caHolder'],
  properties: {
    state: { type: 'string', enum: ['queued', 'spare', 'admitted', 'refused'] },
    reason: reasonText,
    admission: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['memberId', 'clusterId', 'initialCluster', 'clientUrls'],
          properties: {
            memberId,
            clusterId: memberId,
            initialCluster: {
              type: 'array',
              minItems: 1,
              maxItems: 16,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'peerUrl'],
                properties: { name: peerInfoSchema.properties.name, peerUrl: url },
              },
            },
            clientUrls: { type: 'array', maxItems: 16, items: url },
          },
        },
      ],
    },
    caHolder: { anyOf: [{ type: 'null' }, candidateSchema] },
  },
} as const;

export const viewResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeId', 'committed', 'proposed', 'formed'],
  properties: {
    nodeId,
    committed: { anyOf: [viewSchema, { type: 'null' }] },
    proposed: { anyOf: [viewSchema, { type: 'null' }] },
    formed: { type: 'boolean' },
  },
} as const;
