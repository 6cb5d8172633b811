/** A sleep that `wake()` can cut short, so the loop reacts at once to news (a peer said hello, a stop was asked). */
export class Waker {
  private pending: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.timer = setTimeout(() => this.wake(), ms);
    });
  }

  wake(): void {
    clearTimeout(this.timer);
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.();
  }
}

export function backoffMs(failures: number, initialMs = 1000, maxMs = 30_000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
}
