import type { FastifyInstance } from 'fastify';
import { PeerSet } from '../discovery/index.js';
import type { ServiceManager } from '../systemd/service-manager.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { failpoint } from '../util/failpoint.js';
import { Waker } from '../util/sleep.js';
import { CaRole } from './bootstrap/ca-role.js';
import { createCertificateParts, memberFactsReader } from './certs/wiring.js';
import type { CertificatesController } from './controllers/certificates.js';
import { bringUpStep } from './bootstrap/bring-up.js';
import { caHolderOf } from './bootstrap/election.js';
import { electionRound } from './bootstrap/election-round.js';
import { enrollWithHolder } from './bootstrap/enrollment.js';
import { StateStore, type CommittedView, type Enrollment } from './bootstrap/state-store.js';
import type { AgentConfig } from './config/types.js';
import { ControllerSet } from './controllers/controller.js';
import type { ClusterObservation } from './controllers/cluster-health.js';
import { EtcdService, ServiceController } from './controllers/etcd-service.js';
import { HealthController } from './controllers/health.js';
import { NodeCredentials } from './credentials.js';
import { discoverySources } from './discovery-sources.js';
import { localClientUrl } from './files/etcd-files.js';
import { NodeState } from './node-state.js';
import { pkiPaths, type PkiPaths } from './files/pki-files.js';
import type { PeerClient } from './peer/client.js';
import { enrollResponseSchema, type EnrollResponse } from './peer/protocol.js';
import type { PeerServer } from './peer/server.js';
import { createPeerParts } from './peer/wiring.js';
import { candidateOf, endpointOfInfo, type PeerTracker } from './peer/tracker.js';
import { PhaseState, type Phase } from './status/phase.js';
import type { StatusReport } from './status/model.js';
import { buildStatusReport } from './status/report.js';
import { createStatusServer } from './status/server.js';

export interface AgentOptions {
  config: AgentConfig;
  logger: Logger;
  version: string;
  serviceManager: ServiceManager;
  /** Main loop period; tests may shorten it. */
  tickMs?: number;
}

const FAST_TICK_MS = 250;
const PEER_REFRESH_MS = 15_000;
const BUSY: ReadonlySet<Phase> = new Set(['electing', 'enrolling', 'starting-etcd', 'forming']);

/**
 * The conductor: discovery → election → enrollment → configuring → starting
 * etcd → forming → formed, one step per tick, then the steady-state
 * controllers. Every step is idempotent and resumable from what is persisted,
 * so a restart at any point continues where it stopped and never bootstraps a
 * formed cluster again. The work itself lives in bootstrap/ and controllers/.
 */
export class Agent {
  private readonly config: AgentConfig;
  private readonly logger: Logger;
  private readonly store: StateStore;
  private readonly pki: PkiPaths;
  private readonly waker = new Waker();
  private readonly tickMs: number;
  readonly phase: PhaseState;

  private creds!: NodeCredentials;
  private peerSet!: PeerSet;
  private peerServer!: PeerServer;
  private statusServer!: FastifyInstance;
  private client!: PeerClient;
  private tracker!: PeerTracker;
  private readonly etcd: EtcdService;
  private readonly ca: CaRole;
  private health!: HealthController;
  private certs!: CertificatesController;
  private controllers!: ControllerSet;

  private readonly state: NodeState;
  private observation: ClusterObservation | undefined;
  private lastPeerRoundAt = 0;
  private peerApiOpen = false;
  private lastTickAt = Date.now();
  private stopped = false;
  private loopDone: Promise<void> | undefined;

  constructor(private readonly options: AgentOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.store = new StateStore(this.config.paths.stateDir);
    this.pki = pkiPaths(this.config.paths.pkiDir);
    this.tickMs = options.tickMs ?? 1000;
    this.phase = new PhaseState(this.logger);
    this.etcd = new EtcdService(this.config, this.store, this.pki, options.serviceManager);
    this.state = new NodeState(this.config, options.version, () => this.creds.nodeId);
    const otherClientUrls = (): string[] => this.observation?.members.flatMap((m) => m.clientUrls) ?? [];
    const members = memberFactsReader({ config: this.config, creds: () => this.creds, otherClientUrls });
    this.ca = new CaRole(this.store, this.config, this.logger, (who, reason) => this.phase.refused(who, reason), members);
  }

  /** Called on every phase change (sd-notify STATUS=, logs). */
  onPhase(listener: (phase: Phase, reason: string) => void): void {
    this.phase.onChange(listener);
  }

  /** Loads state, opens both APIs; resolves once they listen. */
  async start(): Promise<void> {
    await this.store.init();
    await this.state.load(this.store);
    const { state } = this;
    this.creds = await NodeCredentials.load(this.store, this.pki, this.config.node.name, Boolean(state.enrollment));
    this.peerSet = new PeerSet(discoverySources(this.config, { nodeId: this.creds.nodeId, version: this.options.version }, this.logger));
    const peer = createPeerParts(this.config, {
      nodeId: this.creds.nodeId,
      tls: () => this.creds.tls(),
      selfInfo: () => state.selfInfo(),
      viewReport: () => state.viewReport(),
      gate: () => state.gate(),
      pinned: () => state.committed?.view.map((m) => m.nodeId) ?? [],
      enroll: (caller, request) => this.ca.serveEnroll(caller, state.gate(), request),
      renew: (caller, request) => this.ca.serveRenew(caller, state.gate(), request),
      clientCertificate: (caller, request) => this.ca.serveClientCertificate(caller, state.gate(), request),
      authenticated: () => this.waker.wake(),
      refused: (from, reason) => this.phase.refused(from, reason),
    }, this.logger);
    ({ client: this.client, tracker: this.tracker, server: this.peerServer } = peer);
    this.health = new HealthController(localClientUrl(this.config), () => this.creds.pki()!, () => state.enrollment!, (o) => {
      this.observation = o;
      this.phase.set('formed', o.reason);
    });
    const certs = createCertificateParts({
      config: this.config,
      paths: this.pki,
      logger: this.logger,
      creds: () => this.creds,
      state,
      ca: this.ca,
      client: () => this.client,
      tracker: () => this.tracker,
      peerServer: () => this.peerServer,
      caHolder: () => (state.committed ? caHolderOf(state.committed.view) : undefined),
    });
    this.certs = certs.certificates;
    this.controllers = new ControllerSet([
      new ServiceController(this.etcd, () => state.enrollment!, (did) => this.phase.set('formed', did)),
      this.health,
      certs.certificates,
      certs.nodeRecord,
    ], this.logger);
    // A node that cannot run etcd must not take a seat among the initial members.
    if (await this.etcdInstalled()) await this.openPeerApi();
    this.statusServer = createStatusServer({ report: () => this.report(), loopAlive: () => this.loopAlive() });
    await this.statusServer.listen({ host: this.config.statusApi.host, port: this.config.statusApi.port });
    await this.peerSet.start();
    const { node, cluster, peerApi, statusApi } = this.config;
    const where = { advertise: node.advertiseAddress, peerApi: `${peerApi.listenAddress}:${peerApi.port}`, statusApi: `${statusApi.host}:${statusApi.port}` };
    this.logger.info({ nodeId: this.creds.nodeId, name: node.name, cluster: cluster.name, ...where, resumed: state.stage() }, 'agent started');
    this.loopDone = this.loop();
  }

  /** The main loop has ticked recently (a step is bounded well below this). */
  loopAlive(): boolean {
    return Date.now() - this.lastTickAt < 60_000;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.phase.set('stopping', 'shutting down');
    this.waker.wake();
    await this.loopDone;
    await Promise.allSettled([this.peerServer?.close(), this.statusServer?.close(), this.peerSet?.stop()]);
    await this.etcd.manager.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.lastTickAt = Date.now();
      try {
        await this.step();
        this.phase.stepSucceeded(this.state.formed ? this.controllers.firstError() : null);
      } catch (err) {
        this.phase.stepFailed(describeError(err));
      }
      // While the node is moments from its next step it looks more often.
      if (!this.stopped) await this.waker.sleep(BUSY.has(this.phase.current) ? Math.min(this.tickMs, FAST_TICK_MS) : this.tickMs);
    }
  }

  private async step(): Promise<void> {
    if (!this.peerApiOpen) {
      if (!(await this.etcdInstalled())) return;
      await this.openPeerApi();
    }
    const { committed, enrollment, formed } = this.state;
    if (committed && Date.now() - this.lastPeerRoundAt > PEER_REFRESH_MS) {
      // Past the election the peer list is only for /status; keep it current at a slower pace.
      this.lastPeerRoundAt = Date.now();
      await this.peerSet.refresh();
      await this.tracker.round(this.peerSet.endpoints());
    }
    if (formed && this.certs.expired()) return this.reenroll();
    if (formed) return this.controllers.runDue();
    if (enrollment && this.creds.pki()) return this.bringUp(enrollment);
    if (committed) return this.enroll(committed);
    return this.discoverAndElect();
  }

  private async etcdInstalled(): Promise<boolean> {
    const problem = await this.etcd.cannotRun();
    if (!problem) return true;
    const reason = `${problem}; this node stays out of the cluster (its peer API is closed) until etcd can run`;
    if (reason !== this.phase.reason) this.logger.warn({ component: 'agent', reason }, 'etcd cannot run');
    this.phase.set('starting', reason);
    return false;
  }

  private async openPeerApi(): Promise<void> {
    await this.peerServer.listen(this.config.peerApi.listenAddress, this.config.peerApi.port);
    this.peerApiOpen = true;
  }

  private async discoverAndElect(): Promise<void> {
    const parts = { peerSet: this.peerSet, tracker: this.tracker, client: this.client };
    const round = await electionRound(candidateOf(this.state.selfInfo()), this.config.cluster.size, parts);
    this.state.proposal = round.proposal;
    if (!round.commit) return this.phase.set(round.phase, round.reason);
    const committed: CommittedView = { clusterName: this.config.cluster.name, view: round.commit, committedAt: new Date().toISOString() };
    await this.store.saveView(committed);
    this.state.committed = committed;
    const holder = caHolderOf(committed.view);
    const how = round.decision.kind;
    this.logger.info({ component: 'election', members: committed.view.map((m) => m.name), caHolder: holder.name, how }, 'initial members agreed');
    this.phase.set('enrolling', `initial members agreed; CA holder is ${holder.name}`);
    this.waker.wake();
  }

  private async enroll(committed: CommittedView): Promise<void> {
    const self = { nodeId: this.creds.nodeId, name: this.config.node.name, address: this.config.node.advertiseAddress, clusterName: this.config.cluster.name };
    const { pki, enrollment } = await enrollWithHolder(this.pki, self, committed.view, async (holder, request) => {
      if (holder.nodeId === self.nodeId) return this.ca.serveEnroll({ via: 'self', keyId: this.creds.keyId }, this.state.gate(), request);
      this.phase.set('enrolling', `asking the CA holder ${holder.name} (${holder.address}) to sign this node's certificate`);
      return this.client.call<EnrollResponse>(endpointOfInfo(holder), 'POST', '/v1/enroll', request, enrollResponseSchema);
    });
    this.creds.setPki(pki);
    failpoint('pki-written-before-enrollment');
    await this.store.saveEnrollment(enrollment);
    failpoint('enrollment-written');
    this.state.enrollment = enrollment;
    this.peerServer.updateTls(this.creds.tls());
    this.logger.info({ component: 'pki', caFingerprint: enrollment.caFingerprint }, 'enrolled: certificates written');
    this.phase.set('configuring', 'writing etcd configuration');
    this.waker.wake();
  }

  /** Before etcd runs on an expired certificate (host off past its lifetime): a new one, with the join token. */
  private async reenroll(): Promise<void> {
    this.phase.set('enrolling', 'the certificate of this node has expired; re-enrolling with the join token');
    await this.certs.reenroll();
    this.phase.set('formed', 're-enrolled with the join token: new certificates written');
    this.waker.wake();
  }

  private async bringUp(enrollment: Enrollment): Promise<void> {
    const say = (phase: Phase, reason: string) => this.phase.set(phase, reason);
    const parts = { config: this.config, pki: this.pki, store: this.store, etcd: this.etcd, health: this.health, say };
    const { formed, observation } = await bringUpStep(enrollment, parts);
    this.observation = observation;
    if (!formed) return;
    this.state.formed = formed;
    this.logger.info({ component: 'agent', clusterId: formed.clusterId, memberId: formed.memberId }, 'cluster formed; etcd.conf now says existing');
  }

  report(): StatusReport {
    return buildStatusReport({
      version: this.options.version,
      config: this.config,
      nodeId: this.creds?.nodeId ?? '',
      ...this.phase.snapshot(),
      view: this.state.committed?.view,
      formed: this.state.formed,
      observation: this.observation,
      observationFresh: this.health?.fresh() ?? false,
      discovery: { sources: this.peerSet?.sourceNames() ?? [], problems: this.peerSet?.problems() ?? [] },
      peers: this.tracker?.status() ?? [],
      certificates: this.creds?.certificates() ?? [],
      certificateRenewal: this.certs?.status() ?? { nextRenewalAt: null, lastRenewal: null, lastError: null, renewals: 0, failures: 0, reenrolled: null },
      controllers: this.controllers?.status() ?? [],
      service: { kind: this.etcd.manager.kind, status: this.etcd.manager.status() },
    });
  }
}
