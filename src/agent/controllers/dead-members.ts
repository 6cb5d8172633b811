import type { MemberStatus } from '../status/model.js';
import { formatDuration } from '../../util/duration.js';

/**
 * How long each member has been unhealthy without a break, as this node saw
 * it, and whether that makes it dead (a voter unhealthy for at least
 * `membership.deadAfter`). Keyed by member id: a replaced member's successor
 * starts with a clean record. The clock starts at the first unhealthy look,
 * so a node that just started (or just became able to look) only ever
 * declares a member dead later than it died, never earlier.
 */
export class UnhealthyTracker {
  private readonly since = new Map<string, number>();

  constructor(private readonly deadAfterMs: number) {}

  /** The members with unhealthySince/unhealthyForMs/dead filled in; forgets members no longer listed. */
  annotate(members: readonly MemberStatus[], now = Date.now()): MemberStatus[] {
    const listed = new Set(members.map((m) => m.id));
    for (const id of this.since.keys()) if (!listed.has(id)) this.since.delete(id);
    return members.map((m) => {
      if (m.healthy) {
        this.since.delete(m.id);
        return { ...m, unhealthyForMs: 0, dead: false };
      }
      const since = this.since.get(m.id) ?? now;
      this.since.set(m.id, since);
      const unhealthyForMs = now - since;
      const dead = !m.isLearner && unhealthyForMs >= this.deadAfterMs;
      return { ...m, unhealthySince: new Date(since).toISOString(), unhealthyForMs, dead };
    });
  }
}

/** For /status and logs: 'dead: unhealthy for 1m5s (dead after 1m)' or 'unhealthy for 12s'. */
export function unhealthyWords(m: Pick<MemberStatus, 'healthy' | 'unhealthyForMs' | 'dead'>, deadAfterMs?: number): string {
  if (m.healthy) return '';
  const forWords = `unhealthy for ${formatDuration(m.unhealthyForMs ?? 0)}`;
  if (!m.dead) return forWords;
  return `dead: ${forWords}${deadAfterMs === undefined ? '' : ` (dead after ${formatDuration(deadAfterMs)})`}`;
}
