import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Phase, StatusReport } from './model.js';

const PHASES: Phase[] = [
  'starting', 'discovering', 'electing', 'spare', 'joining', 'enrolling',
  'configuring', 'starting-etcd', 'forming', 'formed', 'stopping',
];

export interface MetricsSource {
  report(): StatusReport;
  loopAlive(): boolean;
}

/**
 * Events the agent's parts report as they happen, for what /status keeps no
 * count of: the conductor passes every health observation's leader to
 * `leaderObserved`. Everything else is read from the status report at scrape
 * time (a part with a number to show adds it to its /status section and a
 * metric here that reads it, as membership and snapshots do).
 */
export interface MetricsHooks {
  leaderObserved(leaderId: string | null): void;
}

/**
 * /metrics on prom-client, with a registry of this agent's own (never the
 * process-global one, so several agents in one process, as in tests, never
 * share or clash). Gauges read the status report when scraped: /metrics
 * answers from memory and never waits on etcd. Process metrics use
 * prom-client's standard names (process_*, nodejs_*), which the usual Node.js
 * dashboards expect. docs/metrics.md lists every metric.
 */
/** Period of the event-loop delay sampling timer behind nodejs_eventloop_lag_* (prom-client's default: 10 ms). */
export const EVENT_LOOP_SAMPLE_MS = 100;

export class AgentMetrics implements MetricsHooks {
  readonly registry = new Registry();
  private scrape: StatusReport | undefined;
  private lastLeader: string | null = null;
  private readonly leaderChanges: Counter;

  constructor(
    private readonly source: MetricsSource,
    options: { processMetrics?: boolean } = {},
  ) {
    // The event-loop delay histogram samples with a timer of this period; prom-client's 10 ms default woke
    // the idle agent 100 times a second (≈100 context switches/s) for a metric a scrape reads every 15–60 s.
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
    const registers = [this.registry];
    // collect() is a method: prom-client calls it with the metric as `this`; the closures reach the report.
    const report = (): StatusReport => this.scrape ?? this.source.report();
    const gauge = (name: string, help: string, value: (r: StatusReport) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(report()));
        },
      });
    };

    gauge('etcd_agent_up', 'The agent main loop is alive.', () => (this.source.loopAlive() ? 1 : 0));
    gauge('etcd_agent_ready', 'The local etcd member serves and the cluster has a leader.', (r) => (r.ready ? 1 : 0));
    new Gauge({
      name: 'etcd_agent_phase',
      help: 'Current lifecycle phase (1 for the active phase).',
      labelNames: ['phase'],
      registers,
      collect() {
        const current = report().phase;
        for (const phase of PHASES) this.set({ phase }, phase === current ? 1 : 0);
      },
    });
    gauge('etcd_agent_cluster_formed', 'The cluster has formed.', (r) => (r.cluster.state === 'formed' ? 1 : 0));
    gauge('etcd_agent_peers_authenticated', 'Agents authenticated with the join token or cluster CA.', (r) => r.peers.filter((p) => p.authenticated).length);
    gauge('etcd_agent_etcd_members', 'etcd members as last listed.', (r) => r.members.length);
    gauge('etcd_agent_etcd_members_healthy', 'etcd members that answered the last health check.', (r) => r.members.filter((m) => m.healthy).length);
    gauge('etcd_agent_etcd_service_restarts', 'Restarts of the etcd service by the agent.', (r) => r.etcdService.restarts);
    new Gauge({
      name: 'etcd_agent_certificate_expiry_seconds',
      help: 'Seconds until each certificate expires.',
      labelNames: ['file'],
      registers,
      collect() {
        this.reset();
        for (const c of report().certificates) this.set({ file: c.file }, c.secondsLeft);
      },
    });
    gauge('etcd_agent_certificate_next_renewal_timestamp_seconds', 'Unix time of the next planned renewal of the node certificates (0: none planned).', (r) =>
      r.certificateRenewal.nextRenewalAt ? Date.parse(r.certificateRenewal.nextRenewalAt) / 1000 : 0,
    );
    gauge('etcd_agent_ca_holder', 'This node holds the CA role (1) or not (0).', (r) => (r.caHolder?.self ? 1 : 0));

    gauge('etcd_agent_snapshot_last_success_timestamp_seconds', 'Unix time of the last verified snapshot this agent took (0: none yet).', (r) =>
      r.snapshots.lastSuccess ? Date.parse(r.snapshots.lastSuccess.at) / 1000 : 0,
    );
    gauge('etcd_agent_snapshot_last_size_bytes', 'Size of the last verified snapshot (0: none yet).', (r) => r.snapshots.lastSuccess?.sizeBytes ?? 0);
    gauge('etcd_agent_snapshot_last_duration_seconds', 'How long the last verified snapshot took, streaming and verifying (0: none yet).', (r) =>
      (r.snapshots.lastSuccess?.durationMs ?? 0) / 1000,
    );
    gauge('etcd_agent_snapshot_files', "This node's snapshot files in snapshots.dir.", (r) => r.snapshots.files.length);
    const counterFromReport = (name: string, help: string, value: (r: StatusReport) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(report()));
        },
      });
    };
    counterFromReport('etcd_agent_certificate_renewals_total', 'Renewals of the node certificates since the agent started.', (r) => r.certificateRenewal.renewals);
    counterFromReport('etcd_agent_certificate_renewal_failures_total', 'Renewal attempts that failed since the agent started (retried; the old certificates stay in place).', (r) => r.certificateRenewal.failures);
    counterFromReport('etcd_agent_snapshot_successes_total', 'Snapshots taken and verified since the agent started.', (r) => r.snapshots.successes);
    counterFromReport('etcd_agent_snapshot_failures_total', 'Snapshots that failed since the agent started (no partial file kept, no older snapshot removed).', (r) => r.snapshots.failures);

    new Counter({
      name: 'etcd_agent_membership_operations_total',
      help: 'Membership operations this agent carried out since it started, by operation (add-learner, promote, remove, resize) and result (ok, failed).',
      labelNames: ['op', 'result'],
      registers,
      collect() {
        this.reset();
        for (const c of report().membership?.counts ?? []) this.inc({ op: c.op, result: c.result }, c.count);
      },
    });
    this.leaderChanges = new Counter({
      name: 'etcd_agent_leader_changes_seen_total',
      help: 'Times the health check saw a different leader than the one it saw before (the first leader seen does not count).',
      registers,
    });
  }

  leaderObserved(leaderId: string | null): void {
    if (leaderId === null) return;
    if (this.lastLeader !== null && leaderId !== this.lastLeader) this.leaderChanges.inc();
    this.lastLeader = leaderId;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; one status report serves the whole scrape. */
  async text(): Promise<string> {
    this.scrape = this.source.report();
    try {
      return await this.registry.metrics();
    } finally {
      this.scrape = undefined;
    }
  }
}
