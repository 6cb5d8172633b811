import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { ControllerStatus } from '../status/model.js';

/**
 * A steady-state controller (after formation): one concern, its own cadence,
 * its own part of /status. `reconcile` looks at the world and nudges it one
 * step towards what it should be; it is bounded and safe to repeat.
 */
export interface Controller {
  readonly name: string;
  /** How often reconcile runs while the node is formed. */
  readonly intervalMs: number;
  reconcile(): Promise<void>;
}

/**
 * `inner`, run each round only once `first()` resolved: while `first` fails,
 * its error is `inner`'s error of the round (shown in /status) and `inner`
 * does not run.
 */
export function runAfter(first: () => Promise<void>, inner: Controller): Controller {
  return {
    name: inner.name,
    intervalMs: inner.intervalMs,
    reconcile: async () => {
      await first();
      await inner.reconcile();
    },
  };
}

interface Slot {
  controller: Controller;
  lastRunAt: number;
  lastError: string | null;
}

/**
 * Runs each controller when its interval has passed, in the order given (the
 * service controller first: health observes what it keeps running). One
 * controller's failure is recorded against it and never stops the others.
 */
export class ControllerSet {
  private readonly slots: Slot[];

  constructor(
    controllers: Controller[],
    private readonly logger: Logger,
  ) {
    this.slots = controllers.map((controller) => ({ controller, lastRunAt: 0, lastError: null }));
  }

  /** `stopping`: checked before each controller, so a stop does not wait for the rest of the round. */
  async runDue(now = Date.now(), stopping: () => boolean = () => false): Promise<void> {
    for (const slot of this.slots) {
      if (stopping()) return;
      if (now - slot.lastRunAt < slot.controller.intervalMs) continue;
      slot.lastRunAt = now;
      try {
        await slot.controller.reconcile();
        slot.lastError = null;
      } catch (err) {
        const reason = describeError(err);
        if (reason !== slot.lastError) this.logger.warn({ component: slot.controller.name, err: reason }, 'controller step failed; will retry');
        slot.lastError = reason;
      }
    }
  }

  /** The first failure, for the conductor's lastError. */
  firstError(): string | null {
    return this.slots.find((s) => s.lastError)?.lastError ?? null;
  }

  status(): ControllerStatus[] {
    return this.slots.map((s) => ({
      name: s.controller.name,
      lastRunAt: s.lastRunAt ? new Date(s.lastRunAt).toISOString() : null,
      lastError: s.lastError,
    }));
  }
}
