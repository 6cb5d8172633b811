/**
 * The admission gate: who is trusted, and as whom. Every decision about an
 * authenticated caller is taken here, once, by pure functions over the
 * caller (as the peer API established it from the TLS session) and this
 * node's state. The CA holder then signs for the identity returned here, and
 * `pki/policy` checks that the CSR asks for nothing beyond it.
 *
 * Identity rule: a node id is the key id of the node's key (pki/key-id.ts).
 * A token caller's id is recomputed from the key of its TLS session, so
 * holding the join token lets an agent be itself, never someone else.
 */
import { isIP } from 'node:net';
import { NOT_UNICAST } from '../util/ip-ranges.js';
import type { Candidate, PeerInfo, View } from './peer/protocol.js';

/** Who is calling, as far as the peer API could establish it. */
export type PeerCaller =
  | {
      via: 'token';
      /** What the caller said about itself in the hello (checked by admitHello). */
      info: PeerInfo;
      fingerprint: string;
      /** Key id of the TLS session's certificate key. */
      keyId: string;
    }
  | {
      /** The CA holder enrolling itself, in process. */
      via: 'self';
      keyId: string;
    }
  | {
      via: 'ca';
      /** CN of a client certificate that chains to the cluster CA. */
      commonName: string;
      fingerprint: string;
      keyId: string;
    };

/** The identity a certificate is signed for; never taken from the CSR. */
export interface AdmittedIdentity {
  nodeId: string;
  name: string;
  addresses: string[];
  /** The node certificate must carry the key of the caller's TLS session. */
  keyId: string;
}

export type Refusal = { code: 'EA_PEER_FORBIDDEN' | 'EA_PEER_NOT_READY'; reason: string };
export type Admission = { admitted: true; identity: AdmittedIdentity } | ({ admitted: false } & Refusal);

/** What the gate knows of this node. */
export interface GateState {
  selfId: string;
  selfName: string;
  selfAddress: string;
  /** The committed initial members, once agreed. */
  view: View | undefined;
  formed: boolean;
  /** This node holds the CA role. */
  holder: boolean;
  holderName: string | undefined;
  /**
   * After formation: the joiner the membership controller admitted as a
   * learner (its `admitted/<nodeId>` record in etcd), read by the caller
   * BEFORE the gate for the node id asking. Undefined: none.
   */
  admitted?: Candidate | undefined;
}

export type CertificateRequestKind = 'enroll';

const refuse = (code: Refusal['code'], reason: string): Admission => ({ admitted: false, code, reason });

/**
 * Who may get a node certificate, and for which identity.
 * - enroll, before formation: an initial member of the committed view, as
 *   itself (token session whose key is its id, or its own cluster certificate).
 * - enroll, after formation, over the join token: exactly a joiner that the
 *   membership controller added as a learner (`state.admitted`), as itself
 *   (its key is its id) and for the name and address it was admitted with.
 */
export function admitCertificate(caller: PeerCaller, state: GateState, kind: CertificateRequestKind): Admission {
  if (kind !== 'enroll') return refuse('EA_PEER_FORBIDDEN', `certificate request of kind "${String(kind)}" is not known`);
  const view = state.view;
  if (!view) return refuse('EA_PEER_NOT_READY', 'this agent has not agreed on the initial members yet; retry shortly');
  if (state.formed && caller.via === 'token') {
    // Every initial member was enrolled before the cluster could form; after that, the token enrolls only an admitted joiner.
    const joiner = state.admitted;
    if (!joiner || joiner.nodeId !== caller.info.nodeId || caller.keyId !== joiner.nodeId) {
      return refuse(
        'EA_PEER_FORBIDDEN',
        `the cluster has formed: the join token enrolls only a joiner a member has admitted as a learner, and ${caller.info.name} (${caller.info.nodeId}) is not one; it must ask to join first (POST /v1/join)`,
      );
    }
    if (!state.holder) return refuse('EA_PEER_FORBIDDEN', `this agent is not the CA holder; ${state.holderName ?? 'another member'} is`);
    return { admitted: true, identity: { nodeId: joiner.nodeId, name: joiner.name, addresses: [joiner.address], keyId: caller.keyId } };
  }
  if (!state.holder) return refuse('EA_PEER_FORBIDDEN', `this agent is not the CA holder; ${state.holderName ?? 'another member'} is`);

  if (caller.via === 'self') {
    const member = view.find((m) => m.nodeId === state.selfId && m.nodeId === caller.keyId);
    if (!member) return refuse('EA_PEER_FORBIDDEN', 'this node is not one of the initial members it holds the CA for');
    return { admitted: true, identity: { nodeId: member.nodeId, name: member.name, addresses: [member.address], keyId: caller.keyId } };
  }
  if (caller.via === 'token') {
    const member = view.find((m) => m.nodeId === caller.info.nodeId);
    if (!member || caller.keyId !== member.nodeId) {
      return refuse(
        'EA_PEER_FORBIDDEN',
        `${caller.info.name} (${caller.info.nodeId}) is not one of the initial members; only they are enrolled during bootstrap`,
      );
    }
    return { admitted: true, identity: { nodeId: member.nodeId, name: member.name, addresses: [member.address], keyId: caller.keyId } };
  }
  const member = view.find((m) => m.name === caller.commonName);
  if (!member) {
    return refuse('EA_PEER_FORBIDDEN', `${caller.commonName} is not one of the initial members; only they are enrolled during bootstrap`);
  }
  return { admitted: true, identity: { nodeId: member.nodeId, name: member.name, addresses: [member.address], keyId: caller.keyId } };
}

/**
 * Whether a peer that proved the token may be believed about who it is.
 * Returns the reason to refuse, or undefined. `keyId` is the key id of the
 * peer's TLS certificate; `viaCa` says that certificate chains to our cluster
 * CA with CN = the claimed name (a member with an id from before ids were
 * bound to keys is recognised that way).
 */
export function admitHello(info: PeerInfo, keyId: string, viaCa: boolean, state: GateState): string | undefined {
  const problem = addressProblem(info.address);
  if (problem) return `it claims address ${info.address}, which ${problem}`;
  if (info.nodeId !== keyId && !viaCa) {
    return `it claims node id ${info.nodeId}, which is not the id of the key it connected with (${keyId})`;
  }
  if (info.nodeId === state.selfId) return 'it claims this node\'s own id';
  if (info.name === state.selfName) return `it claims this node's name "${info.name}"`;
  if (info.address === state.selfAddress) return `it claims this node's address ${info.address}`;
  for (const m of state.view ?? []) {
    const sameId = m.nodeId === info.nodeId;
    if (sameId && (m.name !== info.name || m.address !== info.address)) {
      return `it claims to be initial member ${m.name} (${m.address}) under another name or address (${info.name}, ${info.address})`;
    }
    if (!sameId && m.name === info.name) return `the name "${info.name}" belongs to initial member ${m.nodeId}`;
    if (!sameId && m.address === info.address) return `the address ${info.address} belongs to initial member ${m.name}`;
  }
  return undefined;
}

/** Why an address cannot be a peer's (undefined when it can). */
export function addressProblem(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'is not an IP address';
  if (NOT_UNICAST.check(address, family === 4 ? 'ipv4' : 'ipv6')) return 'is not a unicast address (unspecified, broadcast or multicast)';
  return undefined;
}

/**
 * Whether a POST /v1/join caller is the candidate its body names: a joiner
 * asks only for itself. Over the token, the candidate must be exactly what
 * the caller said in its hello, under the key of its session; over a cluster
 * certificate (an enrolled joiner asking again), the certificate must name it
 * and carry its key. Returns the reason to refuse, or undefined.
 */
export function admitJoinRequest(caller: PeerCaller, candidate: Candidate): string | undefined {
  if (caller.via === 'self') return 'this node does not ask itself to join';
  if (caller.keyId !== candidate.nodeId) {
    return `the join request names node id ${candidate.nodeId}, which is not the id of the key the caller connected with (${caller.keyId})`;
  }
  if (caller.via === 'ca') {
    if (caller.commonName !== candidate.name) return `the join request names "${candidate.name}", but the caller's certificate is for "${caller.commonName}"`;
    return undefined;
  }
  const i = caller.info;
  const fields = ['nodeId', 'name', 'address', 'peerApiPort', 'etcdPeerPort', 'etcdClientPort'] as const;
  const differs = fields.filter((f) => i[f] !== candidate[f]);
  if (differs.length > 0) {
    return `the join request's candidate differs from what the caller said in its hello (${differs.join(', ')}); a joiner asks only for itself`;
  }
  return undefined;
}
