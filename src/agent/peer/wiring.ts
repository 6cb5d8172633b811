import type { Logger } from '../../util/log.js';
import { admitHello, type GateState, type PeerCaller } from '../admission.js';
import type { AgentConfig } from '../config/types.js';
import { PeerClient } from './client.js';
import type {
  ClientCertificateRequest,
  ClientCertificateResponse,
  EnrollRequest,
  EnrollResponse,
  JoinRequest,
  JoinResponse,
  PeerInfo,
  RenewRequest,
  RenewResponse,
  ViewReport,
} from './protocol.js';
import { PeerServer, type ServerTls } from './server.js';
import { PeerTracker } from './tracker.js';

/** What the peer API needs from the node it speaks for. */
export interface PeerSide {
  nodeId: string;
  tls(): ServerTls;
  selfInfo(): PeerInfo;
  viewReport(): ViewReport;
  gate(): GateState;
  /** Initial members: the peer table never evicts them. */
  pinned(): string[];
  enroll(caller: PeerCaller, request: EnrollRequest): Promise<EnrollResponse>;
  join(caller: PeerCaller, request: JoinRequest): Promise<JoinResponse>;
  renew(caller: PeerCaller, request: RenewRequest): Promise<RenewResponse>;
  clientCertificate(caller: PeerCaller, request: ClientCertificateRequest): Promise<ClientCertificateResponse>;
  authenticated(): void;
  refused(from: string, reason: string): void;
}

/**
 * The peer API's three parts for one node, wired to each other and to the
 * admission gate: the client (hellos and calls out), the tracker (who we have
 * authenticated), the server (hellos and requests in). Both directions share
 * one hello key, derived once (deriveHelloKeyAsync: scrypt, costly by design);
 * the parts take it while it is still being derived, so the APIs listen meanwhile.
 */
export function createPeerParts(config: AgentConfig, side: PeerSide, helloKey: Promise<Buffer>, logger: Logger): { client: PeerClient; tracker: PeerTracker; server: PeerServer } {
  const client = new PeerClient({
    clusterName: config.cluster.name,
    helloKey,
    tls: () => side.tls(),
    selfInfo: () => side.selfInfo(),
    localAddress: config.node.advertiseAddress,
  });
  const tracker = new PeerTracker(client, side.nodeId, logger, { pinned: () => side.pinned() });
  const server = new PeerServer(side.tls(), {
    clusterName: config.cluster.name,
    helloKey,
    selfInfo: () => side.selfInfo(),
    viewReport: () => side.viewReport(),
    admitHello: (info, keyId, viaCa) => admitHello(info, keyId, viaCa, side.gate()),
    peerAuthenticated: (info) => {
      tracker.remember(info);
      side.authenticated();
    },
    peerRefused: (from, reason) => side.refused(from, reason),
    enroll: (caller, request) => side.enroll(caller, request),
    join: (caller, request) => side.join(caller, request),
    renew: (caller, request) => side.renew(caller, request),
    clientCertificate: (caller, request) => side.clientCertificate(caller, request),
  }, logger);
  return { client, tracker, server };
}
