import type { FastifyInstance } from 'fastify';
import { PeerSet } from '../discovery/index.js';
import { deriveHelloKey } from '../pki/index.js';
import { checkBinary } from '../systemd/binary.js';
import type { ServiceManager } from '../systemd/service-manager.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Waker } from '../util/sleep.js';
import { admitHello, type GateState } from './admission.js';
import { CaRole } from './bootstrap/ca-role.js';
import { caHolderOf, type Proposal } from './bootstrap/election.js';
import { electionRound } from './bootstrap/election-round.js';
import { enrollWithHolder } from './bootstrap/enrollment.js';
import { StateStore, type CommittedView, type Enrollment, type FormedMarker } from './bootstrap/state-store.js';
import type { AgentConfig } from './config/types.js';
import { ControllerSet } from './controllers/controller.js';
import type { ClusterObservation } from './controllers/cluster-health.js';
import { EtcdService, ServiceController } from './controllers/etcd-service.js';
import { HealthController } from './controllers/health.js';
import { NodeCredentials } from './credentials.js';
import { discoverySources } from './discovery-sources.js';
import { localClientUrl, writeEtcdFiles } from './files/etcd-files.js';
import { pkiPaths, type PkiPaths } from './files/pki-files.js';
import { PeerClient } from './peer/client.js';
import { enrollResponseSchema, PROTOCOL_VERSION, type EnrollResponse, type PeerInfo, type ViewReport } from './peer/protocol.js';
import { PeerServer } from './peer/server.js';
import { PeerTracker, candidateOf, endpointOfInfo } from './peer/tracker.js';
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
  private controllers!: ControllerSet;

  private committed: CommittedView | undefined;
  private enrollment: Enrollment | undefined;
  private formed: FormedMarker | undefined;
  private proposal: Proposal | undefined;
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
    this.ca = new CaRole(this.store, this.config, this.logger, (who, reason) => this.phase.refused(who, reason));
  }

  /** Called on every phase change (sd-notify STATUS=, logs). */
  onPhase(listener: (phase: Phase, reason: string) => void): void {
    this.phase.onChange(listener);
  }

  /** Loads state, opens both APIs; resolves once they listen. */
  async start(): Promise<void> {
    await this.store.init();
    this.committed = await this.store.view();
    this.enrollment = await this.store.enrollment();
    this.formed = await this.store.formed();
    this.creds = await NodeCredentials.load(this.store, this.pki, this.config.node.name, Boolean(this.enrollment));
    this.peerSet = new PeerSet(discoverySources(this.config, { nodeId: this.creds.nodeId, version: this.options.version }, this.logger));
    const helloKey = deriveHelloKey(this.config.cluster.token, this.config.cluster.name);
    const tls = () => this.creds.tls();
    this.client = new PeerClient({
      clusterName: this.config.cluster.name,
      helloKey,
      tls,
      selfInfo: () => this.selfInfo(),
      localAddress: this.config.node.advertiseAddress,
    });
    this.tracker = new PeerTracker(this.client, this.creds.nodeId, this.logger);
    this.peerServer = new PeerServer(tls(), {
      clusterName: this.config.cluster.name,
      helloKey,
      selfInfo: () => this.selfInfo(),
      viewReport: () => this.viewReport(),
      admitHello: (info, keyId, viaCa) => admitHello(info, keyId, viaCa, this.gateState()),
      peerAuthenticated: (info) => {
        this.tracker.remember(info);
        this.waker.wake();
      },
      peerRefused: (from, reason) => this.phase.refused(from, reason),
      enroll: (caller, request) => this.ca.serveEnroll(caller, this.gateState(), request),
    }, this.logger);
    this.health = new HealthController(localClientUrl(this.config), () => this.creds.pki()!, () => this.enrollment!, (o) => {
      this.observation = o;
      this.phase.set('formed', o.reason);
    });
    this.controllers = new ControllerSet([
      new ServiceController(this.etcd, () => this.enrollment!, (did) => this.phase.set('formed', did)),
      this.health,
    ], this.logger);
    // A node that cannot run etcd must not take a seat among the initial members.
    if (await this.etcdInstalled()) await this.openPeerApi();
    this.statusServer = createStatusServer({ report: () => this.report(), loopAlive: () => this.loopAlive() });
    await this.statusServer.listen({ host: this.config.statusApi.host, port: this.config.statusApi.port });
    await this.peerSet.start();
    this.logger.info(
      {
        nodeId: this.creds.nodeId,
        name: this.config.node.name,
        cluster: this.config.cluster.name,
        advertise: this.config.node.advertiseAddress,
        peerApi: `${this.config.peerApi.listenAddress}:${this.config.peerApi.port}`,
        statusApi: `${this.config.statusApi.host}:${this.config.statusApi.port}`,
        resumed: this.formed ? 'formed' : this.enrollment ? 'enrolled' : this.committed ? 'committed' : 'fresh',
      },
      'agent started',
    );
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
        this.phase.stepSucceeded(this.formed ? this.controllers.firstError() : null);
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
    if (this.committed && Date.now() - this.lastPeerRoundAt > PEER_REFRESH_MS) {
      // Past the election the peer list is only for /status; keep it current at a slower pace.
      this.lastPeerRoundAt = Date.now();
      await this.peerSet.refresh();
      await this.tracker.round(this.peerSet.endpoints());
    }
    if (this.formed) return this.controllers.runDue();
    if (this.enrollment && this.creds.pki()) return this.bringUp(this.enrollment);
    if (this.committed) return this.enroll(this.committed);
    return this.discoverAndElect();
  }

  private async etcdInstalled(): Promise<boolean> {
    try {
      await checkBinary(this.config.etcd.binary);
      return true;
    } catch (err) {
      const reason = `${describeError(err)}; this node stays out of the cluster (its peer API is closed) until etcd can run`;
      if (reason !== this.phase.reason) this.logger.warn({ component: 'agent', reason }, 'etcd cannot run');
      this.phase.set('starting', reason);
      return false;
    }
  }

  private async openPeerApi(): Promise<void> {
    await this.peerServer.listen(this.config.peerApi.listenAddress, this.config.peerApi.port);
    this.peerApiOpen = true;
  }

  private async discoverAndElect(): Promise<void> {
    const round = await electionRound(candidateOf(this.selfInfo()), this.config.cluster.size, { peerSet: this.peerSet, tracker: this.tracker, client: this.client });
    this.proposal = round.proposal;
    const decision = round.decision;
    if (decision.kind === 'commit' || decision.kind === 'adopt') {
      const committed: CommittedView = { clusterName: this.config.cluster.name, view: decision.view, committedAt: new Date().toISOString() };
      await this.store.saveView(committed);
      this.committed = committed;
      const holder = caHolderOf(decision.view);
      this.logger.info(
        { component: 'election', members: decision.view.map((m) => m.name), caHolder: holder.name, how: decision.kind },
        'initial members agreed',
      );
      this.phase.set('enrolling', `initial members agreed; CA holder is ${holder.name}`);
      this.waker.wake();
    } else if (decision.kind === 'wait') {
      this.phase.set(round.proposal.kind === 'waiting' ? 'discovering' : 'electing', [decision.reason, ...round.problems].join('; '));
    } else if (decision.kind === 'spare') {
      this.phase.set('spare', decision.reason);
    } else {
      this.phase.set('joining', `${decision.reason}; joining an existing cluster is not supported by this version yet — this node waits`);
    }
  }

  private async enroll(committed: CommittedView): Promise<void> {
    const self = { nodeId: this.creds.nodeId, name: this.config.node.name, address: this.config.node.advertiseAddress, clusterName: this.config.cluster.name };
    const { pki, enrollment } = await enrollWithHolder(this.pki, self, committed.view, async (holder, request) => {
      if (holder.nodeId === self.nodeId) {
        const identity = { nodeId: self.nodeId, name: self.name, addresses: [self.address], keyId: this.creds.nodeId };
        return (await this.ca.holderFor(committed.view)).sign(identity, request);
      }
      this.phase.set('enrolling', `asking the CA holder ${holder.name} (${holder.address}) to sign this node's certificate`);
      return this.client.call<EnrollResponse>(endpointOfInfo(holder), 'POST', '/v1/enroll', request, enrollResponseSchema);
    });
    this.creds.setPki(pki);
    await this.store.saveEnrollment(enrollment);
    this.enrollment = enrollment;
    this.peerServer.updateTls(this.creds.tls());
    this.logger.info({ component: 'pki', caFingerprint: enrollment.caFingerprint }, 'enrolled: certificates written');
    this.phase.set('configuring', 'writing etcd configuration');
    this.waker.wake();
  }

  private async bringUp(enrollment: Enrollment): Promise<void> {
    const did = await this.etcd.ensureRunning(enrollment, 'new');
    if (did) this.phase.set('starting-etcd', did);
    this.phase.set('forming', `waiting for all ${enrollment.view.length} initial members to start and elect a leader`);
    const observation = await this.health.observe(true);
    this.observation = observation;
    if (!observation.complete || !observation.clusterId || !observation.localMemberId) {
      this.phase.set('forming', observation.reason);
      return;
    }
    await writeEtcdFiles(this.config, enrollment, 'existing', this.pki);
    const formed: FormedMarker = {
      clusterName: this.config.cluster.name,
      clusterId: observation.clusterId,
      memberId: observation.localMemberId,
      formedAt: new Date().toISOString(),
    };
    await this.store.saveFormed(formed);
    this.formed = formed;
    this.logger.info({ component: 'agent', clusterId: formed.clusterId, memberId: formed.memberId }, 'cluster formed; etcd.conf now says existing');
    this.phase.set('formed', observation.reason);
  }

  // ---- what this node says about itself ----------------------------------

  private selfInfo(): PeerInfo {
    return {
      protocol: PROTOCOL_VERSION,
      clusterName: this.config.cluster.name,
      nodeId: this.creds.nodeId,
      name: this.config.node.name,
      address: this.config.node.advertiseAddress,
      peerApiPort: this.config.peerApi.port,
      etcdPeerPort: this.config.etcd.peerPort,
      etcdClientPort: this.config.etcd.clientPort,
      version: this.options.version,
      stage: this.formed ? 'formed' : this.enrollment ? 'enrolled' : this.committed ? 'committed' : 'fresh',
    };
  }

  private viewReport(): ViewReport {
    const proposal = this.proposal;
    return {
      nodeId: this.creds.nodeId,
      committed: this.committed?.view ?? null,
      proposed: proposal && proposal.kind !== 'waiting' ? proposal.view : null,
      formed: Boolean(this.formed),
    };
  }

  private gateState(): GateState {
    const view = this.committed?.view;
    const holder = view ? caHolderOf(view) : undefined;
    return {
      selfId: this.creds.nodeId,
      selfName: this.config.node.name,
      selfAddress: this.config.node.advertiseAddress,
      view,
      formed: Boolean(this.formed),
      holder: holder?.nodeId === this.creds.nodeId,
      holderName: holder?.name,
    };
  }

  report(): StatusReport {
    return buildStatusReport({
      version: this.options.version,
      config: this.config,
      nodeId: this.creds?.nodeId ?? '',
      ...this.phase.snapshot(),
      view: this.committed?.view,
      formed: this.formed,
      observation: this.observation,
      observationFresh: this.health?.fresh() ?? false,
      discovery: { sources: this.peerSet?.sourceNames() ?? [], problems: this.peerSet?.problems() ?? [] },
      peers: this.tracker?.status() ?? [],
      certificates: this.creds?.certificates() ?? [],
      controllers: this.controllers?.status() ?? [],
      service: { kind: this.etcd.manager.kind, status: this.etcd.manager.status() },
    });
  }
}
