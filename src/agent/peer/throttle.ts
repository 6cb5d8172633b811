/**
 * Lets at most `perInterval` events through per interval and counts the rest.
 * Refusals and load warnings arrive at the rate of the flood that causes them;
 * the log and /status get the first few and then a count, so a flood cannot
 * fill the disk or push everything else out of /status.
 */
export class Throttle {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  private heldBack = 0;

  constructor(
    private readonly perInterval: number,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `ok`: go ahead, and say how many were held back since the last one that went ahead. */
  pass(): { ok: true; heldBack: number } | { ok: false } {
    const now = this.now();
    if (now - this.windowStart >= this.intervalMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.perInterval) {
      this.heldBack += 1;
      return { ok: false };
    }
    this.used += 1;
    const heldBack = this.heldBack;
    this.heldBack = 0;
    return { ok: true, heldBack };
  }
}
