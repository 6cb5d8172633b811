/**
 * Day-2 certificate parts of one agent, wired to the conductor's pieces: the
 * certificates controller (renewal, re-enrollment) and the etcd look-up the CA role does before a renew or client decision.
 * Kept out of agent.ts, which only composes.
 */
import { readMemberFacts, type MemberFacts } from '../../etcd/node-records.js';
import type { CaRole } from '../bootstrap/ca-role.js';
import type { AgentContext } from '../wiring-context.js';
import type { AgentConfig } from '../config/types.js';
import { CertificatesController } from '../controllers/certificates.js';
import type { NodeCredentials } from '../credentials.js';
import { localClientUrl } from '../files/etcd-files.js';
import { renewResponseSchema, type Candidate, type RenewRequest, type RenewResponse } from '../peer/protocol.js';
import type { PeerServer } from '../peer/server.js';
import { endpointOfInfo } from '../peer/tracker.js';
import { askCandidates, candidateList } from './renew-request.js';

/** Who holds the CA role now, as this node knows it (undefined: unknown). */
export type CaHolderLookup = () => Candidate | undefined | Promise<Candidate | undefined>;

export interface CertificatePartsInput extends AgentContext {
  ca: CaRole;
  peerServer: () => PeerServer;
  /** The elected CA holder as this node knows it (CaRole.currentHolder()). */
  caHolder: CaHolderLookup;
}

/** etcd's members and nodes/* records, through the local member first. */
export function memberFactsReader(input: {
  config: AgentConfig;
  creds: () => NodeCredentials;
  /** Client URLs of the other members as last observed (the holder's own etcd may be the one down). */
  otherClientUrls: () => string[];
}): () => Promise<MemberFacts> {
  return async () => {
    const tls = input.creds().adminTls();
    const local = localClientUrl(input.config);
    const endpoints = [local, ...input.otherClientUrls().filter((u) => u !== local)];
    return readMemberFacts(endpoints, tls, input.config.cluster.name, 3000);
  };
}

export function createCertificateParts(input: CertificatePartsInput): { certificates: CertificatesController } {
  const { config, state } = input;

  const ask = async (request: RenewRequest): Promise<{ answer: RenewResponse; from: string }> => {
    const gate = state.gate();
    const creds = input.creds();
    if (gate.holder) {
      const answer = await input.ca.serveRenew({ via: 'self', keyId: creds.keyId }, gate, request);
      return { answer, from: `${config.node.name} (this node holds the CA)` };
    }
    const holder = await Promise.resolve(input.caHolder()).catch(() => undefined);
    const candidates = candidateList(creds.nodeId, [holder], state.committed?.view ?? [], input.tracker().candidates());
    const { answer, from } = await askCandidates(candidates, (c) =>
      input.client().call<RenewResponse>(endpointOfInfo(c), 'POST', '/v1/renew', request, renewResponseSchema),
    );
    return { answer, from: from.name };
  };

  const certificates = new CertificatesController({
    creds: input.creds(),
    paths: input.pki,
    self: { name: config.node.name, address: config.node.advertiseAddress },
    ask,
    switched: () => input.peerServer().updateTls(input.creds().tls()),
    logger: input.logger,
  });
  return { certificates };
}
