import type { Logger } from '../../util/log.js';
import type { Phase } from './model.js';

export type { Phase };

const MAX_REFUSALS = 20;

export interface Refusal {
  from: string;
  reason: string;
  at: string;
}

/**
 * Where the conductor stands and why, in words: the phase, its reason, the
 * last step error and the last refused peers. Logs each change once and tells
 * listeners (sd-notify STATUS=).
 */
export class PhaseState {
  current: Phase = 'starting';
  reason = 'starting up';
  private since = new Date().toISOString();
  private lastError: string | null = null;
  private readonly refusals: Refusal[] = [];
  private readonly listeners: ((phase: Phase, reason: string) => void)[] = [];

  constructor(private readonly logger: Logger) {}

  onChange(listener: (phase: Phase, reason: string) => void): void {
    this.listeners.push(listener);
  }

  set(phase: Phase, reason: string): void {
    if (phase !== this.current) {
      this.since = new Date().toISOString();
      this.logger.info({ component: 'agent', phase, reason }, 'phase');
    } else if (reason !== this.reason) {
      this.logger.debug({ component: 'agent', phase, reason }, 'reason');
    }
    const changed = phase !== this.current || reason !== this.reason;
    this.current = phase;
    this.reason = reason;
    if (changed) for (const l of this.listeners) l(phase, reason);
  }

  /** A step ended; `error` is a controller's failure that did not stop the step. */
  stepSucceeded(error: string | null): void {
    if (error) this.stepFailed(error, false);
    else this.lastError = null;
  }

  stepFailed(error: string, log = true): void {
    this.lastError = error;
    this.reason = `${this.current === 'starting' ? '' : 'retrying: '}${error}`;
    if (log) this.logger.warn({ component: 'agent', phase: this.current, err: error }, 'step failed; will retry');
  }

  refused(from: string, reason: string): void {
    this.logger.warn({ component: 'peer-api', peer: from, reason }, 'refused a peer');
    this.refusals.push({ from, reason, at: new Date().toISOString() });
    if (this.refusals.length > MAX_REFUSALS) this.refusals.shift();
  }

  snapshot(): { phase: Phase; reason: string; phaseSince: string; lastError: string | null; refusals: Refusal[] } {
    return { phase: this.current, reason: this.reason, phaseSince: this.since, lastError: this.lastError, refusals: [...this.refusals] };
  }
}
