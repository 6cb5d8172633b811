import type { Enrollment } from '../bootstrap/state-store.js';
import type { NodePki } from '../files/pki-files.js';
import { observeCluster, type ClusterObservation } from './cluster-health.js';
import type { Controller } from './controller.js';
import { UnhealthyTracker } from './dead-members.js';

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
  private readonly unhealthy: UnhealthyTracker;

  constructor(
    private readonly localUrl: string,
    private readonly pki: () => NodePki,
    private readonly enrollment: () => Enrollment,
    private readonly observed: (o: ClusterObservation) => void,
    deadAfterMs: number,
  ) {
    this.unhealthy = new UnhealthyTracker(deadAfterMs);
  }

  async reconcile(): Promise<void> {
    this.observed(await this.observe(false));
  }

  /** During forming, also checks that every initial member has started. */
  async observe(forming: boolean): Promise<ClusterObservation> {
    const pki = this.pki();
    const observation = await observeCluster(
      this.localUrl,
      { caPem: pki.caPem, certPem: pki.clientCertPem, keyPem: pki.clientKeyPem },
      forming ? this.enrollment().view : undefined,
    );
    // An observation that could not list the members says nothing about them: the unhealthy clocks keep running.
    if (observation.members.length > 0) observation.members = this.unhealthy.annotate(observation.members);
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
