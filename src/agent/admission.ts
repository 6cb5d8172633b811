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
import type { MemberFacts } from '../etcd/node-records.js';
import { LINK_LOCAL, NOT_UNICAST } from '../util/ip-ranges.js';
import type { Candidate, PeerInfo, View } from './peer/protocol.js';

export type { MemberFacts };

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
      /**
       * It is a node certificate (serverAuth): a member's own identity. Client
       * certificates (a node's etcdctl@…, a consumer's from `cert issue`, whose
       * CN could be anything) never stand for a member.
       */
      node: boolean;
      /** Its IP subject alternative names, loopback left out: the addresses the CA signed for. */
      addresses: string[];
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
  /**
   * This node may sign: before formation, it is the lowest id of the view;
   * after formation, it holds the CA role in etcd's election now (CaRole asks
   * etcd right before signing), whatever it held before.
   */
  holder: boolean;
  holderName: string | undefined;
  /**
   * After formation: the joiner the membership controller admitted as a
   * learner (its `admitted/<nodeId>` record in etcd), read by the caller
   * BEFORE the gate for the node id asking. Undefined: none.
   */
  admitted?: Candidate | undefined;
  /**
   * After formation, for renew and client requests: etcd's member list and the
   * `nodes/<name>` records, read by the CA role just before it asks the gate
   * (undefined: not read, or etcd did not answer).
   */
  members?: MemberFacts | undefined;
}

/**
 * enroll: a node's first certificates (initial members during bootstrap);
 * renew: a member's own certificates again (same name, addresses and server key);
 * client: a consumer's client certificate, asked for by a member (`cert issue`).
 */
export type CertificateRequestKind = 'enroll' | 'renew' | 'client';

const refuse = (code: Refusal['code'], reason: string): Admission => ({ admitted: false, code, reason });

/**
 * Who may get a certificate, and for which identity.
 * - enroll, before formation: an initial member of the committed view, as
 *   itself (token session whose key is its id, or its own cluster certificate).
 * - enroll, after formation, over the join token: exactly a joiner that the
 *   membership controller added as a learner (`state.admitted`), as itself
 *   (its key is its id) and for the name and address it was admitted with.
 * - renew and client: see admitRenew and admitClient.
 */
export function admitCertificate(caller: PeerCaller, state: GateState, kind: CertificateRequestKind): Admission {
  if (kind === 'renew') return admitRenew(caller, state);
  if (kind === 'client') return admitClient(caller, state);
  if (kind !== 'enroll') return refuse('EA_PEER_FORBIDDEN', `certificate request of kind "${String(kind)}" is not known`);
  // A member that joined later has no view of its own, yet may hold the CA role: only bootstrap needs the view.
  if (!state.view && !state.formed) return refuse('EA_PEER_NOT_READY', 'this agent has not agreed on the initial members yet; retry shortly');
  const view = state.view ?? [];
  if (state.formed && caller.via === 'token') {
    // Only the holder signs: said first, so a joiner admitted elsewhere that asks a member which is no longer
    // the holder learns who is (not that it was never admitted, which this member may not know).
    if (!state.holder) return notHolder(state);
    // Every initial member was enrolled before the cluster could form; after that, the token enrolls only an admitted joiner.
    const joiner = state.admitted;
    if (!joiner || joiner.nodeId !== caller.info.nodeId || caller.keyId !== joiner.nodeId) {
      return refuse(
        'EA_PEER_FORBIDDEN',
        `the cluster has formed: the join token enrolls only a joiner a member has admitted as a learner, and ${caller.info.name} (${caller.info.nodeId}) is not one; it must ask to join first (POST /v1/join)`,
      );
    }
    return { admitted: true, identity: { nodeId: joiner.nodeId, name: joiner.name, addresses: [joiner.address], keyId: caller.keyId } };
  }
  if (!state.holder) return notHolder(state);

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
  if (!caller.node) return clientCertificateRefused(caller.commonName);
  const member = view.find((m) => m.name === caller.commonName);
  if (!member) {
    return refuse('EA_PEER_FORBIDDEN', `${caller.commonName} is not one of the initial members; only they are enrolled during bootstrap`);
  }
  return { admitted: true, identity: { nodeId: member.nodeId, name: member.name, addresses: [member.address], keyId: caller.keyId } };
}

/**
 * renew: a member's own certificates again, after formation.
 * - over its cluster certificate (a node certificate): for the name and
 *   addresses that certificate carries, if etcd lists that name as a member;
 * - over a token session (its certificate expired while it was stopped): only
 *   as a member whose `nodes/<name>` record (or, without one, its entry among
 *   the agreed initial members) carries the id of the key it connected with,
 *   for that record's name and address;
 * - the CA holder renewing itself, in process.
 * Either way the node CSR must carry the caller's current key (the node id is
 * that key's id), so renewal never moves a name to another key.
 */
function admitRenew(caller: PeerCaller, state: GateState): Admission {
  if (!state.holder) return notHolder(state);
  if (caller.via === 'self') {
    return { admitted: true, identity: { nodeId: state.selfId, name: state.selfName, addresses: [state.selfAddress], keyId: caller.keyId } };
  }
  if (!state.formed) return refuse('EA_PEER_NOT_READY', 'the cluster has not formed yet: certificates are renewed only after formation; enroll instead');
  const members = state.members;
  if (!members) return membersUnknown();
  if (caller.via === 'ca') {
    if (!caller.node) return clientCertificateRefused(caller.commonName);
    if (!members.names.includes(caller.commonName)) return notAMember(caller.commonName);
    if (caller.addresses.length === 0) {
      return refuse('EA_PEER_FORBIDDEN', `the certificate of ${caller.commonName} names no address of its own; it cannot be renewed, only enrolled afresh`);
    }
    const record = members.records.find((r) => r.name === caller.commonName);
    const nodeId = record?.nodeId ?? caller.keyId;
    return { admitted: true, identity: { nodeId, name: caller.commonName, addresses: [...caller.addresses], keyId: caller.keyId } };
  }
  const { name } = caller.info;
  // The record in etcd, or for an initial member the agreed view (its record may not be written yet:
  // a member stopped right after formation); the record wins, it is what the cluster knows now.
  const record = members.records.find((r) => r.name === name) ?? state.view?.find((m) => m.name === name);
  if (!record) {
    return refuse(
      'EA_PEER_FORBIDDEN',
      `there is no nodes/${name} record in etcd and ${name} is no initial member: only a known member may re-enroll with the join token after its certificate expired`,
    );
  }
  if (record.nodeId !== caller.keyId) {
    return refuse(
      'EA_PEER_FORBIDDEN',
      `the nodes/${name} record names node id ${record.nodeId}, not the id of the key ${name} connected with (${caller.keyId}); a re-enrolling member must keep its node key`,
    );
  }
  if (!members.names.includes(name)) return notAMember(name);
  if (record.address !== caller.info.address) {
    return refuse('EA_PEER_FORBIDDEN', `${name} says its address is ${caller.info.address}, but its nodes/${name} record says ${record.address}`);
  }
  return { admitted: true, identity: { nodeId: record.nodeId, name, addresses: [record.address], keyId: caller.keyId } };
}

/**
 * client: a consumer's client certificate, for members only: a caller with a
 * member's node certificate (never a token session, never a client
 * certificate). The identity returned is the asking member's, for the log;
 * the consumer's name is judged by admitClientName and the CSR policy.
 */
function admitClient(caller: PeerCaller, state: GateState): Admission {
  if (!state.holder) return notHolder(state);
  if (caller.via === 'token') {
    return refuse(
      'EA_PEER_FORBIDDEN',
      `${caller.info.name} asked over a join-token session: client certificates are issued only to members, over their cluster certificate (run \`etcd-agent cert issue\` on a member)`,
    );
  }
  if (caller.via === 'self') {
    return { admitted: true, identity: { nodeId: state.selfId, name: state.selfName, addresses: [state.selfAddress], keyId: caller.keyId } };
  }
  if (!caller.node) return clientCertificateRefused(caller.commonName);
  const members = state.members;
  if (!members) return membersUnknown();
  if (!members.names.includes(caller.commonName)) return notAMember(caller.commonName);
  const nodeId = members.records.find((r) => r.name === caller.commonName)?.nodeId ?? caller.keyId;
  return { admitted: true, identity: { nodeId, name: caller.commonName, addresses: [...caller.addresses], keyId: caller.keyId } };
}

/**
 * Whether a consumer certificate may carry `name`: not the name of a member
 * or of a known node (etcd takes a client certificate's CN as the user name,
 * so it would act as that member). The form of the name is pki's rule.
 */
export function admitClientName(name: string, state: GateState): Refusal | undefined {
  const taken =
    name === state.selfName ||
    (state.view ?? []).some((m) => m.name === name) ||
    (state.members?.names ?? []).includes(name) ||
    (state.members?.records ?? []).some((r) => r.name === name);
  if (!taken) return undefined;
  return {
    code: 'EA_PEER_FORBIDDEN',
    reason: `"${name}" is the name of a cluster member; etcd takes a client certificate's CN as the user, so choose a name of its own for the consumer`,
  };
}

function notHolder(state: GateState): Admission {
  return refuse('EA_PEER_FORBIDDEN', `this agent is not the CA holder; ${state.holderName ?? 'another member'} is`);
}

function membersUnknown(): Admission {
  return refuse('EA_PEER_NOT_READY', "the CA holder could not read the cluster's members from etcd; retry shortly");
}

function notAMember(name: string): Admission {
  return refuse('EA_PEER_FORBIDDEN', `${name} is not in etcd's member list: only current members renew or ask for certificates`);
}

function clientCertificateRefused(commonName: string): Admission {
  return refuse(
    'EA_PEER_FORBIDDEN',
    `the caller presented a client certificate (CN ${commonName}), not a node certificate; only a member's own node certificate (server.crt) counts`,
  );
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
    // After formation a reinstalled host (new key, so a new id) comes back under its old name and
    // address and must be able to ask to join: whether it may take that name is the membership
    // controller's decision (refused while the member is healthy), and no certificate is signed for
    // it unless that controller admitted it (admitCertificate).
    if (state.formed) continue;
    if (!sameId && m.name === info.name) return `the name "${info.name}" belongs to initial member ${m.nodeId}`;
    if (!sameId && m.address === info.address) return `the address ${info.address} belongs to initial member ${m.name}`;
  }
  return undefined;
}

/** Why an address cannot be a peer's (undefined when it can). */
export function addressProblem(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'is not an IP address';
  if (address.includes('%')) return 'carries a zone id (an interface of the host that reads it)';
  if (NOT_UNICAST.check(address, family === 4 ? 'ipv4' : 'ipv6')) return 'is not a unicast address (unspecified, broadcast or multicast)';
  if (LINK_LOCAL.check(address, family === 4 ? 'ipv4' : 'ipv6')) return 'is link-local (meaningless without an interface)';
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
