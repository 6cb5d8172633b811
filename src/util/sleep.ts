/**
 * A sleep that `wake()` can cut short, so the loop reacts at once to news (a
 * peer said hello, a step made progress, a stop was asked). A wake that comes
 * while nobody sleeps is kept for the next sleep, so progress made during a
 * step is never followed by an idle tick.
 */
export class Waker {
  private pending: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private woken = false;

  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.pending = resolve;
      this.timer = setTimeout(() => this.release(), ms);
    });
  }

  wake(): void {
    if (!this.pending) {
      this.woken = true;
      return;
    }
    this.release();
  }

  private release(): void {
    clearTimeout(this.timer);
    const resolve = this.pending;
    this.pending = undefined;
    this.woken = false;
    resolve?.();
  }
}

export function backoffMs(failures: number, initialMs = 1000, maxMs = 30_000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
}

/** Waits for `work` at most `ms`; its outcome (or failure) after that is ignored. */
export function withinMs(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([Promise.resolve(work).then(() => undefined, () => undefined), limit]).finally(() => clearTimeout(timer));
}
