import type { Enrollment } from '../bootstrap/state-store.js';
import { adminTlsOf, type NodePki } from '../files/pki-files.js';
import { observeCluster, type ClusterObservation } from './cluster-health.js';
import type { Controller } from './controller.js';

export const HEALTH_INTERVAL_MS = 5000;

/**
 * The health controller: one bounded look at the cluster through the local
 * member at its own cadence. /status and /readyz read the last observation;
 * they never wait on etcd.
 */
export class HealthController implements Controller {
  readonly name = 'health';
  readonly intervalMs = HEALTH_INTERVAL_MS;
  private last: ClusterObservation | undefined;
  private lastAt = 0;

  constructor(
    private readonly localUrl: string,
    private readonly pki: () => NodePki,
    private readonly enrollment: () => Enrollment,
    private readonly observed: (o: ClusterObservation) => void,
    /** Other members' client URLs: a learner's own etcd does not list members. */
    private readonly fallbackUrls: () => string[] = () => [],
  ) {}

  async reconcile(): Promise<void> {
    this.observed(await this.observe(false));
  }

  /** During forming, also checks that every initial member has started. */
  async observe(forming: boolean): Promise<ClusterObservation> {
    const pki = this.pki();
    const observation = await observeCluster(
      this.localUrl,
      adminTlsOf(pki),
      forming ? this.enrollment().view : undefined,
      this.fallbackUrls(),
    );
    this.last = observation;
    this.lastAt = Date.now();
    return observation;
  }

  observation(): ClusterObservation | undefined {
    return this.last;
  }

  /** Recent enough to vouch for readiness. */
  fresh(now = Date.now()): boolean {
    return now - this.lastAt < 3 * HEALTH_INTERVAL_MS;
  }
}
