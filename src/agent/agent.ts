import { readdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { PeerSet } from '../discovery/index.js';
import { certificateInfo, createEphemeralIdentity, deriveHelloKey, type TlsIdentity } from '../pki/index.js';
import { checkBinary } from '../systemd/binary.js';
import type { ServiceManager, ServiceSpec } from '../systemd/service-manager.js';
import { AgentError, describeError, isAgentError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { CaHolder } from './bootstrap/ca-holder.js';
import { discoverySources } from './discovery-sources.js';
import { observeCluster, type ClusterObservation } from './controllers/cluster-health.js';
import type { AgentConfig } from './config/types.js';
import { caHolderOf, decide, inView, propose, sameView, type Proposal } from './bootstrap/election.js';
import { completeEnrollment, prepareEnrollment } from './bootstrap/enrollment.js';
import { localClientUrl, writeEtcdFiles } from './files/etcd-files.js';
import { PeerClient } from './peer/client.js';
import { PeerApiError, notAllowed, notReady } from './peer/errors.js';
import { enrollResponseSchema, viewResponseSchema, PROTOCOL_VERSION, type EnrollRequest, type EnrollResponse, type PeerInfo, type PeerStage, type Candidate, type ViewReport } from './peer/protocol.js';
import { PeerServer, type PeerCaller } from './peer/server.js';
import { PeerTracker, candidateOf } from './peer/tracker.js';
import { pkiPaths, readNodePki, type NodePki, type PkiPaths } from './files/pki-files.js';
import { Waker } from '../util/sleep.js';
import { StateStore, type CommittedView, type Enrollment, type FormedMarker, type NodeIdentity } from './bootstrap/state-store.js';
import { createStatusServer } from './status/server.js';
import type { CertificateStatus, Phase, StatusReport } from './status/model.js';
import { buildStatusReport, certificateStatus } from './status/report.js';

export interface AgentOptions {
  config: AgentConfig;
  logger: Logger;
  version: string;
  serviceManager: ServiceManager;
  /** Main loop period; tests may shorten it. */
  tickMs?: number;
}

const STEADY_CHECK_MS = 5000;
const FAST_TICK_MS = 250;
const PEER_REFRESH_MS = 15_000;
const MAX_REFUSALS = 20;

/**
 * The conductor: discovery → election → enrollment → configuring →
 * starting etcd → forming → formed, one step per tick. Every step is
 * idempotent and resumable from what is persisted, so a restart at any point
 * continues where it stopped and never bootstraps a formed cluster again.
 */
export class Agent {
  private readonly config: AgentConfig;
  private readonly logger: Logger;
  private readonly store: StateStore;
  private readonly pki: PkiPaths;
  private readonly service: ServiceManager;
  private peerSet!: PeerSet;
  private readonly waker = new Waker();
  private readonly tickMs: number;

  private identity!: NodeIdentity;
  private ephemeral!: TlsIdentity;
  private peerServer!: PeerServer;
  private statusServer!: FastifyInstance;
  private client!: PeerClient;
  private tracker!: PeerTracker;

  private committed: CommittedView | undefined;
  private enrollment: Enrollment | undefined;
  private formed: FormedMarker | undefined;
  private nodePki: NodePki | undefined;
  private certificates: CertificateStatus[] = [];
  private holder: Promise<CaHolder> | undefined;
  private proposal: Proposal | undefined;
  private observation: ClusterObservation | undefined;
  private lastObservationAt = 0;
  private lastPeerRoundAt = 0;
  private serviceEnabled = false;
  private peerApiOpen = false;

  private phase: Phase = 'starting';
  private reason = 'starting up';
  private phaseSince = new Date().toISOString();
  private lastError: string | null = null;
  private refusals: { from: string; reason: string; at: string }[] = [];
  private lastTickAt = Date.now();
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private readonly phaseListeners: ((phase: Phase, reason: string) => void)[] = [];

  constructor(private readonly options: AgentOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.store = new StateStore(this.config.paths.stateDir);
    this.pki = pkiPaths(this.config.paths.pkiDir);
    this.service = options.serviceManager;
    this.tickMs = options.tickMs ?? 1000;
  }

  /** Called on every phase change (sd-notify STATUS=, logs). */
  onPhase(listener: (phase: Phase, reason: string) => void): void {
    this.phaseListeners.push(listener);
  }

  /** Loads state, opens both APIs; resolves once they listen. */
  async start(): Promise<void> {
    await this.store.init();
    this.identity = await this.store.identity();
    this.peerSet = new PeerSet(
      discoverySources(this.config, { nodeId: this.identity.nodeId, version: this.options.version }, this.logger),
    );
    this.committed = await this.store.view();
    this.enrollment = await this.store.enrollment();
    this.formed = await this.store.formed();
    if (this.enrollment) {
      const pki = await readNodePki(this.pki);
      if (pki) this.setNodePki(pki);
      else {
        throw new AgentError(
          'EA_PKI_MISSING',
          `this node enrolled earlier but its certificates in ${this.pki.dir} are missing or incomplete; restore them from a backup (the agent will not re-enroll a node that may already be a member)`,
        );
      }
    }
    this.ephemeral = await createEphemeralIdentity(this.config.node.name);
    const helloKey = deriveHelloKey(this.config.cluster.token, this.config.cluster.name);
    this.client = new PeerClient({
      clusterName: this.config.cluster.name,
      helloKey,
      tls: () => this.clientTls(),
      selfInfo: () => this.selfInfo(),
      localAddress: this.config.node.advertiseAddress,
    });
    this.tracker = new PeerTracker(this.client, this.identity.nodeId, this.logger, { pinned: () => this.committed?.view.map((m) => m.nodeId) ?? [] });
    this.peerServer = new PeerServer(this.serverTls(), {
      clusterName: this.config.cluster.name,
      helloKey,
      selfInfo: () => this.selfInfo(),
      viewReport: () => this.viewReport(),
      peerAuthenticated: (info) => {
        this.tracker.remember(info);
        this.waker.wake();
      },
      peerRefused: (from, reason) => this.refused(from, reason),
      enroll: (caller, request) => this.serveEnroll(caller, request),
    }, this.logger);
    // A node that cannot run etcd must not take a seat among the initial members.
    if (await this.etcdInstalled()) await this.openPeerApi();
    this.statusServer = createStatusServer({ report: () => this.report(), loopAlive: () => this.loopAlive() });
    await this.statusServer.listen({ host: this.config.statusApi.host, port: this.config.statusApi.port });
    await this.peerSet.start();
    this.logger.info(
      {
        nodeId: this.identity.nodeId,
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
    this.setPhase('stopping', 'shutting down');
    this.waker.wake();
    await this.loopDone;
    await Promise.allSettled([this.peerServer?.close(), this.statusServer?.close(), this.peerSet?.stop()]);
    await this.service.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.lastTickAt = Date.now();
      try {
        await this.step();
        this.lastError = null;
      } catch (err) {
        this.lastError = describeError(err);
        this.reason = `${this.phaseReasonPrefix()}${this.lastError}`;
        this.logger.warn({ component: 'agent', phase: this.phase, err: this.lastError }, 'step failed; will retry');
      }
      if (!this.stopped) await this.waker.sleep(this.nextTickMs());
    }
  }

  /**
   * While the node is moments from its next step (peers agreeing, the holder
   * signing, etcd electing a leader) it looks more often; otherwise once per tick.
   */
  private nextTickMs(): number {
    const busy = this.phase === 'electing' || this.phase === 'enrolling' || this.phase === 'starting-etcd' || this.phase === 'forming';
    return busy ? Math.min(this.tickMs, FAST_TICK_MS) : this.tickMs;
  }

  private phaseReasonPrefix(): string {
    return this.phase === 'starting' ? '' : 'retrying: ';
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
    if (this.formed) return this.steady();
    if (this.enrollment && this.nodePki) return this.bringUp();
    if (this.committed) return this.enroll(this.committed);
    return this.discoverAndElect();
  }

  private async etcdInstalled(): Promise<boolean> {
    try {
      await checkBinary(this.config.etcd.binary);
      return true;
    } catch (err) {
      const reason = `${describeError(err)}; this node stays out of the cluster (its peer API is closed) until etcd can run`;
      if (reason !== this.reason) this.logger.warn({ component: 'agent', reason }, 'etcd cannot run');
      this.setPhase('starting', reason);
      return false;
    }
  }

  private async openPeerApi(): Promise<void> {
    await this.peerServer.listen(this.config.peerApi.listenAddress, this.config.peerApi.port);
    this.peerApiOpen = true;
  }

  // ---- discovery and election -------------------------------------------

  private async discoverAndElect(): Promise<void> {
    await this.peerSet.refresh();
    await this.tracker.round(this.peerSet.endpoints());
    const self = this.selfCandidate();
    this.proposal = propose(self, this.tracker.candidates(), this.config.cluster.size);

    const reports = new Map<string, ViewReport | string>();
    await Promise.all(
      this.tracker.peers().map(async (peer) => {
        const endpoint = this.tracker.endpointFor(peer.nodeId);
        if (!endpoint) return;
        try {
          reports.set(peer.nodeId, await this.client.call<ViewReport>(endpoint, 'GET', '/v1/view', undefined, viewResponseSchema));
        } catch (err) {
          reports.set(peer.nodeId, describeError(err));
        }
      }),
    );
    const decision = decide(self, this.proposal, reports);
    switch (decision.kind) {
      case 'commit':
      case 'adopt': {
        const committed: CommittedView = {
          clusterName: this.config.cluster.name,
          view: decision.view,
          committedAt: new Date().toISOString(),
        };
        await this.store.saveView(committed);
        this.committed = committed;
        const holder = caHolderOf(decision.view);
        this.logger.info(
          { component: 'election', members: decision.view.map((m) => m.name), caHolder: holder.name, how: decision.kind },
          'initial members agreed',
        );
        this.setPhase('enrolling', `initial members agreed; CA holder is ${holder.name}`);
        this.waker.wake();
        return;
      }
      case 'wait': {
        const problems = [...this.tracker.problems(), ...this.peerSet.problems()];
        const phase: Phase = this.proposal.kind === 'waiting' ? 'discovering' : 'electing';
        this.setPhase(phase, [decision.reason, ...problems].join('; '));
        return;
      }
      case 'spare':
        this.setPhase('spare', decision.reason);
        return;
      case 'join':
        this.setPhase(
          'joining',
          `${decision.reason}; joining an existing cluster is not supported by this version yet — this node waits`,
        );
        return;
    }
  }

  // ---- enrollment --------------------------------------------------------

  private async enroll(committed: CommittedView): Promise<void> {
    const holder = caHolderOf(committed.view);
    const self = this.identity.nodeId;
    const pending = await prepareEnrollment(this.pki, this.config.node.name, [this.config.node.advertiseAddress]);
    let answer: EnrollResponse;
    if (holder.nodeId === self) {
      answer = (await this.ensureHolder(committed)).sign(self, pending.request);
    } else {
      this.setPhase('enrolling', `asking the CA holder ${holder.name} (${holder.address}) to sign this node's certificate`);
      const endpoint = { key: `${holder.address}:${holder.peerApiPort}`, address: holder.address, port: holder.peerApiPort };
      answer = await this.client.call<EnrollResponse>(endpoint, 'POST', '/v1/enroll', pending.request, enrollResponseSchema);
    }
    if (!sameView(answer.view, committed.view) || answer.clusterName !== this.config.cluster.name) {
      throw new AgentError('EA_ENROLL_VIEW_MISMATCH', `the CA holder ${holder.name} answered for different initial members; retrying`);
    }
    this.setNodePki(await completeEnrollment(this.pki, pending, answer));
    const enrollment: Enrollment = {
      clusterName: answer.clusterName,
      initialClusterToken: answer.initialClusterToken,
      view: committed.view,
      caFingerprint: certificateInfo(answer.caCertificate).fingerprint256,
      enrolledAt: new Date().toISOString(),
    };
    await this.store.saveEnrollment(enrollment);
    this.enrollment = enrollment;
    this.peerServer.updateTls(this.serverTls());
    this.logger.info({ component: 'pki', caFingerprint: enrollment.caFingerprint }, 'enrolled: certificates written');
    this.setPhase('configuring', 'writing etcd configuration');
    this.waker.wake();
  }

  /** Memoised as a promise: enroll requests arrive concurrently and there must be exactly one CA. */
  private ensureHolder(committed: CommittedView): Promise<CaHolder> {
    this.holder ??= CaHolder.open(
      this.store,
      committed.view,
      {
        clusterName: this.config.cluster.name,
        certValidityDays: this.config.pki.certValidityDays,
        caValidityDays: this.config.pki.caValidityDays,
      },
      this.logger,
    );
    this.holder.catch(() => {
      this.holder = undefined;
    });
    return this.holder;
  }

  private async serveEnroll(caller: PeerCaller, request: EnrollRequest): Promise<EnrollResponse> {
    const committed = this.committed;
    if (!committed) throw notReady('this agent has not agreed on the initial members yet; retry shortly');
    if (this.formed && caller.via === 'token') {
      // Every initial member was enrolled before the cluster could form; after that, only cluster certificates count.
      throw notAllowed('the cluster has formed: enrollment with the join token is closed; joining a formed cluster is not supported by this version yet');
    }
    const holder = caHolderOf(committed.view);
    if (holder.nodeId !== this.identity.nodeId) throw notAllowed(`this agent is not the CA holder; ${holder.name} is`);
    const memberId =
      caller.via === 'token' ? caller.info.nodeId : committed.view.find((m) => m.name === caller.commonName)?.nodeId;
    if (!memberId || !inView(committed.view, memberId)) {
      const who = caller.via === 'token' ? `${caller.info.name} (${caller.info.nodeId})` : caller.commonName;
      this.refused(who, 'asked for a certificate but is not an initial member');
      throw notAllowed(`${who} is not one of the initial members; only they are enrolled during bootstrap`);
    }
    try {
      return (await this.ensureHolder(committed)).sign(memberId, request);
    } catch (err) {
      if (isAgentError(err) && err.code.startsWith('EA_PKI_')) {
        this.refused(memberId, err.message);
        throw new PeerApiError(403, err.code, err.message);
      }
      throw err;
    }
  }

  // ---- etcd --------------------------------------------------------------

  private async bringUp(): Promise<void> {
    const enrollment = this.enrollment!;
    await this.ensureEtcdRunning(enrollment, 'new');
    this.setPhase('forming', `waiting for all ${enrollment.view.length} initial members to start and elect a leader`);
    const observation = await this.observe(enrollment, true);
    if (!observation.complete || !observation.clusterId || !observation.localMemberId) {
      this.setPhase('forming', observation.reason);
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
    this.setPhase('formed', observation.reason);
  }

  private async steady(): Promise<void> {
    const enrollment = this.enrollment!;
    await this.ensureEtcdRunning(enrollment, 'existing');
    if (Date.now() - this.lastObservationAt < STEADY_CHECK_MS) return;
    const observation = await this.observe(enrollment, false);
    this.setPhase('formed', observation.reason);
  }

  private async observe(enrollment: Enrollment, forming: boolean): Promise<ClusterObservation> {
    const pki = this.nodePki!;
    const observation = await observeCluster(
      localClientUrl(this.config),
      { caPem: pki.caPem, certPem: pki.clientCertPem, keyPem: pki.clientKeyPem },
      forming ? enrollment.view : undefined,
    );
    this.observation = observation;
    this.lastObservationAt = Date.now();
    return observation;
  }

  /**
   * Writes etcd's files, installs the service, and (re)starts etcd when it is
   * not running or when what it runs from changed. Idempotent: on a steady
   * node it writes nothing and touches nothing.
   */
  private async ensureEtcdRunning(enrollment: Enrollment, state: 'new' | 'existing'): Promise<void> {
    const confChanged = await writeEtcdFiles(this.config, enrollment, state, this.pki);
    const unit = await this.service.install(this.serviceSpec());
    if (unit.changed || !this.serviceEnabled) {
      await this.service.enable();
      this.serviceEnabled = true;
    }
    const current = this.service.status().state;
    const running = current === 'active' || current === 'activating';
    const stale = unit.changed || confChanged;
    if (running && !stale) return;
    if (state === 'new') await this.claimDataDir(enrollment);
    this.setPhase(this.formed ? 'formed' : 'starting-etcd', `${running ? 'restarting' : 'starting'} etcd (${this.service.kind} service manager)`);
    if (running) await this.service.restart();
    else await this.service.start();
  }

  /**
   * etcd ignores the initial cluster when its data dir already holds data, so
   * starting it on someone else's data would silently join the wrong cluster.
   * The first start records that the data dir is ours; later starts trust it.
   */
  private async claimDataDir(enrollment: Enrollment): Promise<void> {
    if (enrollment.dataDirClaimedAt) return;
    const entries = await readdir(this.config.etcd.dataDir).catch(() => [] as string[]);
    if (entries.length > 0) {
      throw new AgentError(
        'EA_ETCD_DATA_DIR_IN_USE',
        `etcd data dir ${this.config.etcd.dataDir} already holds data this agent did not create; move it away or set etcd.dataDir to an empty directory`,
      );
    }
    enrollment.dataDirClaimedAt = new Date().toISOString();
    await this.store.saveEnrollment(enrollment);
  }

  private serviceSpec(): ServiceSpec {
    return {
      name: 'etcd',
      binary: this.config.etcd.binary,
      envFile: this.config.paths.confFile,
      dataDir: this.config.etcd.dataDir,
      workDir: this.config.paths.stateDir,
      user: 'etcd',
    };
  }

  // ---- identity, TLS, reports -------------------------------------------

  private stage(): PeerStage {
    if (this.formed) return 'formed';
    if (this.enrollment) return 'enrolled';
    if (this.committed) return 'committed';
    return 'fresh';
  }

  private selfInfo(): PeerInfo {
    return {
      protocol: PROTOCOL_VERSION,
      clusterName: this.config.cluster.name,
      nodeId: this.identity.nodeId,
      name: this.config.node.name,
      address: this.config.node.advertiseAddress,
      peerApiPort: this.config.peerApi.port,
      etcdPeerPort: this.config.etcd.peerPort,
      etcdClientPort: this.config.etcd.clientPort,
      version: this.options.version,
      stage: this.stage(),
    };
  }

  private selfCandidate(): Candidate {
    return candidateOf(this.selfInfo());
  }

  private viewReport(): ViewReport {
    const proposal = this.proposal;
    return {
      nodeId: this.identity.nodeId,
      committed: this.committed?.view ?? null,
      proposed: proposal && proposal.kind !== 'waiting' ? proposal.view : null,
      formed: Boolean(this.formed),
    };
  }

  private clientTls(): { keyPem: string; certPem: string; caPem?: string } {
    if (this.nodePki) return { keyPem: this.nodePki.serverKeyPem, certPem: this.nodePki.serverCertPem, caPem: this.nodePki.caPem };
    return { keyPem: this.ephemeral.keyPem, certPem: this.ephemeral.certPem };
  }

  private serverTls(): { keyPem: string; certPem: string; caPem?: string } {
    return this.clientTls();
  }

  private setNodePki(pki: NodePki): void {
    this.nodePki = pki;
    // Parsed once here, not on every status request.
    this.certificates = certificateStatus([
      [this.pki.caCert, pki.caPem],
      [this.pki.serverCert, pki.serverCertPem],
      [this.pki.clientCert, pki.clientCertPem],
    ]);
  }

  private refused(from: string, reason: string): void {
    this.logger.warn({ component: 'peer-api', peer: from, reason }, 'refused a peer');
    this.refusals.push({ from, reason, at: new Date().toISOString() });
    if (this.refusals.length > MAX_REFUSALS) this.refusals.shift();
  }

  private setPhase(phase: Phase, reason: string): void {
    if (phase !== this.phase) {
      this.phaseSince = new Date().toISOString();
      this.logger.info({ component: 'agent', phase, reason }, 'phase');
    } else if (reason !== this.reason) {
      this.logger.debug({ component: 'agent', phase, reason }, 'reason');
    }
    const changed = phase !== this.phase || reason !== this.reason;
    this.phase = phase;
    this.reason = reason;
    if (changed) for (const l of this.phaseListeners) l(phase, reason);
  }

  report(): StatusReport {
    return buildStatusReport({
      version: this.options.version,
      config: this.config,
      nodeId: this.identity?.nodeId ?? '',
      phase: this.phase,
      reason: this.reason,
      phaseSince: this.phaseSince,
      lastError: this.lastError,
      view: this.committed?.view,
      formed: this.formed,
      observation: this.observation,
      observationFresh: Date.now() - this.lastObservationAt < 3 * STEADY_CHECK_MS,
      discovery: { sources: this.peerSet?.sourceNames() ?? [], problems: this.peerSet?.problems() ?? [] },
      peers: this.tracker?.status() ?? [],
      refusals: this.refusals,
      certificates: this.certificates,
      service: { kind: this.service.kind, status: this.service.status() },
    });
  }
}
