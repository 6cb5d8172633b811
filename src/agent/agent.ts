import type { FastifyInstance } from 'fastify';
import { PeerSet } from '../discovery/index.js';
import { closeEtcdClients } from '../etcd/client.js';
import type { ServiceManager } from '../systemd/service-manager.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { failpoint } from '../util/failpoint.js';
import { Waker, withinMs } from '../util/sleep.js';
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
import { CaRoleController } from './controllers/ca-role.js';
import { NodeCredentials } from './credentials.js';
import { discoverySources } from './discovery-sources.js';
import { localClientUrl } from './files/etcd-files.js';
import { createMembershipParts, type MembershipParts } from './membership-wiring.js';
import { createRepairParts, type RepairParts } from './repair-wiring.js';
import { NodeState } from './node-state.js';
import { pkiPaths, type PkiPaths } from './files/pki-files.js';
import { deriveHelloKeyAsync, discardSpareKeyPairs, prepareKeyPairs } from '../pki/index.js';
import type { PeerClient } from './peer/client.js';
import { enrollResponseSchema, type EnrollResponse } from './peer/protocol.js';
import type { PeerServer } from './peer/server.js';
import { createPeerParts } from './peer/wiring.js';
import { createRecoveryParts, type RecoveryParts } from './recovery-wiring.js';
import type { AgentContext } from './wiring-context.js';
import { candidateOf, endpointOfInfo, type PeerTracker } from './peer/tracker.js';
import { AgentMetrics } from './status/metrics.js';
import { PhaseState, type Phase } from './status/phase.js';
import { NO_RENEWAL, type StatusReport } from './status/model.js';
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
/** How long stop() waits for the current step, and for the CA-role hand-over, before it goes on. */
const STOP_STEP_WAIT_MS = 5000;

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
  private readonly caRole: CaRoleController;
  private health!: HealthController;
  private membership!: MembershipParts;
  private repair!: RepairParts;
  private certs!: CertificatesController;
  private controllers!: ControllerSet;
  private readonly recovery: RecoveryParts;
  readonly metrics: AgentMetrics;

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
    this.caRole = new CaRoleController({
      clusterName: this.config.cluster.name,
      token: this.config.cluster.token,
      localUrl: localClientUrl(this.config),
      self: () => candidateOf(this.state.selfInfo()),
      pki: () => this.creds.pki(),
      localCa: () => this.store.caMaterial(),
      logger: this.logger,
    });
    this.state = new NodeState(this.config, options.version, () => this.creds.nodeId, this.caRole);
    const otherClientUrls = (): string[] => this.observation?.members.flatMap((m) => m.clientUrls) ?? [];
    const members = memberFactsReader({ config: this.config, creds: () => this.creds, otherClientUrls });
    this.ca = new CaRole(this.store, this.config, this.logger, (who, reason) => this.phase.refused(who, reason), this.caRole, () => ({ formed: Boolean(this.state.formed), enrollment: this.state.enrollment }), members);
    this.recovery = createRecoveryParts({
      config: this.config,
      logger: this.logger,
      store: this.store,
      state: this.state,
      adminTls: () => this.creds.adminTls(),
      observation: () => this.observation,
      stopEtcd: () => this.etcd.manager.stop(),
      becomeNew: (why) => this.becomeNew(why),
    });
    this.metrics = new AgentMetrics({ report: () => this.report(), loopAlive: () => this.loopAlive() });
  }

  /** Called on every phase change (sd-notify STATUS=, logs). */
  onPhase(listener: (phase: Phase, reason: string) => void): void {
    this.phase.onChange(listener);
  }

  /** Loads state, opens both APIs; resolves once they listen. */
  async start(): Promise<void> {
    // scrypt (costly by design) in the thread pool while the APIs open; only a hello waits for the key.
    const helloKey = deriveHelloKeyAsync(this.config.cluster.token, this.config.cluster.name);
    helloKey.catch(() => undefined); // awaited at the end; a failure surfaces there
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
      enroll: async (caller, request) => this.ca.serveEnroll(caller, await this.membership.gateFor(caller), request),
      join: (caller, request) => this.membership.joinServer.handle(caller, request),
      renew: (caller, request) => this.ca.serveRenew(caller, state.gate(), request),
      clientCertificate: (caller, request) => this.ca.serveClientCertificate(caller, state.gate(), request),
      authenticated: () => this.waker.wake(),
      refused: (from, reason) => this.phase.refused(from, reason),
    }, helloKey, this.logger);
    ({ client: this.client, tracker: this.tracker, server: this.peerServer } = peer);
    const context: AgentContext = {
      config: this.config,
      logger: this.logger,
      store: this.store,
      state,
      pki: this.pki,
      etcd: this.etcd,
      creds: () => this.creds,
      client: () => this.client,
      tracker: () => this.tracker,
      peerSet: () => this.peerSet,
      observation: () => this.observation,
      say: (phase, reason) => this.phase.set(phase, reason),
      refused: (who, reason) => this.phase.refused(who, reason),
      wake: () => this.waker.wake(),
    };
    this.membership = createMembershipParts({
      ...context,
      enrolled: () => this.peerServer.updateTls(this.creds.tls()),
      rules: [(input, facts) => this.repair.rule(input, facts)],
      otherReason: (caller, request, records, members) => this.repair.otherReason(caller, request, records, members),
      // A removal cannot be undone: a verified snapshot first, or no removal.
      beforeRemoval: async (reason) => void (await this.recovery.snapshots.snapshotNow(`before removing a member: ${reason}`)),
    });
    this.repair = createRepairParts({ ...context, unhealthySince: () => this.membership.unhealthy.map() });
    await this.repair.rejoin.load();
    this.health = new HealthController(localClientUrl(this.config), () => this.creds.pki()!, () => state.enrollment!, (o) => {
      this.observation = o;
      // A look that could not list the members says nothing about them: their unhealthy clocks keep running.
      if (o.members.length > 0) this.membership.unhealthy.update(o.members);
      this.metrics.leaderObserved(o.leaderId);
      this.recovery.observed(o);
      this.phase.set('formed', o.reason);
    }, () => this.voterUrls());
    this.certs = createCertificateParts({
      ...context,
      ca: this.ca,
      peerServer: () => this.peerServer,
      caHolder: () => this.ca.currentHolder(),
    }).certificates;
    // Lineage first: a member of a cluster that was replaced must not start etcd even once.
    this.controllers = new ControllerSet([
      this.recovery.lineage,
      new ServiceController(this.etcd, () => state.enrollment!, (did) => this.phase.set('formed', did), (detail) => this.repair.rejoin.begin('wiped', detail)),
      this.health,
      this.recovery.lineage.afterRestore(this.caRole),
      this.recovery.lineage.afterRestore(this.membership.controller),
      this.repair.removalCheck,
      this.recovery.snapshots,
      this.certs,
    ], this.logger);
    // A node that cannot run etcd must not take a seat among the initial members.
    if (await this.etcdInstalled()) await this.openPeerApi();
    this.statusServer = createStatusServer({ report: () => this.report(), loopAlive: () => this.loopAlive(), metrics: this.metrics });
    await this.statusServer.listen({ host: this.config.statusApi.host, port: this.config.statusApi.port });
    await this.peerSet.start();
    if (!state.enrollment && !state.formed) prepareKeyPairs(2);
    await helloKey;
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
    // Bounded: a step that waits on an etcd that is gone (a host halting stops etcd too) must not hold the
    // stop past systemd's TimeoutStopSec; what it was doing is safe to abandon (every step is idempotent).
    await withinMs(this.loopDone, STOP_STEP_WAIT_MS);
    // Before etcd may stop: a holder hands the CA role over at once instead of after its lease's TTL.
    await withinMs(this.caRole.close(), STOP_STEP_WAIT_MS);
    await this.recovery.snapshots.stop();
    await Promise.allSettled([this.peerServer?.close(), this.statusServer?.close(), this.peerSet?.stop()]);
    // The shared etcd clients close now, or when the call still using one ends (within its deadline).
    closeEtcdClients();
    await this.etcd.manager.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.lastTickAt = Date.now();
      try {
        await this.step();
        // While this member is being re-added its controllers do not run: their last errors are stale.
        this.phase.stepSucceeded(this.state.formed && !this.repair.rejoin.active() ? this.controllers.firstError() : null);
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
    // A member being re-added (wiped data dir, removed member) runs nothing else until it is.
    if (formed && this.repair.rejoin.active()) return this.repair.rejoin.step();
    if (formed && this.certs.expired()) return this.reenroll();
    if (formed) {
      // Formed by whichever path (bootstrap, join, repair, restore): the key pairs made ahead at start are not needed.
      discardSpareKeyPairs();
      return this.controllers.runDue(Date.now(), () => this.stopped);
    }
    if (this.state.joining()) return this.membership.joiner.step();
    if (enrollment && this.creds.pki()) return this.bringUp(enrollment);
    if (committed) return this.enroll(committed);
    return this.discoverAndElect();
  }

  /** Stepped aside from a cluster that was replaced by a restore: forget it in memory and start over as a new agent, which joins the new one. */
  private async becomeNew(why: string): Promise<void> {
    Object.assign(this.state, { formed: undefined, enrollment: undefined, committed: undefined, joinState: undefined });
    this.observation = undefined;
    this.creds = await NodeCredentials.load(this.store, this.pki, this.config.node.name, false);
    this.peerServer.updateTls(this.creds.tls());
    this.phase.set('discovering', why);
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
    // A formed cluster is out there: ask a member to be let in (never bootstrap).
    if (round.decision.kind === 'join') {
      await this.repair.beforeJoin();
      return this.membership.joiner.step();
    }
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
    const parts = { config: this.config, pki: this.pki, store: this.store, etcd: this.etcd, health: this.health, say, sealEscrow: () => this.caRole.sealAtFormation() };
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
      caRole: this.caRole.status(),
      formed: this.state.formed,
      observation: this.observation,
      observationFresh: this.health?.fresh() ?? false,
      discovery: { sources: this.peerSet?.sourceNames() ?? [], problems: this.peerSet?.problems() ?? [] },
      peers: this.tracker?.status() ?? [],
      certificates: this.creds?.certificates() ?? [],
      certificateRenewal: this.certs?.status() ?? NO_RENEWAL,
      controllers: this.controllers?.status() ?? [],
      snapshots: this.recovery.snapshots.status(),
      service: { kind: this.etcd.manager.kind, status: this.etcd.manager.status() },
      caHolder: this.state.caHolder(),
      membership: this.state.formed ? (this.membership?.controller.status() ?? null) : null,
      unhealthySince: this.membership?.unhealthy.map(),
    });
  }

  /** Client URLs of the voters last seen, for a learner whose own etcd lists no members. */
  private voterUrls(): string[] {
    const seen = this.observation?.members.filter((m) => !m.isLearner).flatMap((m) => m.clientUrls.slice(0, 1)) ?? [];
    return seen.length > 0 ? seen : (this.state.enrollment?.joined?.clientUrls ?? []);
  }
}
