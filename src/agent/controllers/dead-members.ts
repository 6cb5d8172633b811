import type { MemberStatus } from '../status/model.js';
import { formatDuration } from '../../util/duration.js';

/**
 * Dead members: a voter unhealthy without a break for at least
 * `membership.deadAfter` (the clock is UnhealthySince, fed by the health
 * controller; it starts at the first unhealthy look, so a node that just
 * started only ever declares a member dead later than it died, never
 * earlier). A learner is never dead: the learner timeout deals with it.
 */
export function isDead(m: Pick<MemberStatus, 'isLearner' | 'healthy'>, unhealthyForMs: number | undefined, deadAfterMs: number): boolean {
  return !m.isLearner && !m.healthy && unhealthyForMs !== undefined && unhealthyForMs >= deadAfterMs;
}

/** For /status and logs: 'dead: unhealthy for 1m5s (dead after 1m)' or 'unhealthy for 12s'. */
export function unhealthyWords(m: Pick<MemberStatus, 'healthy' | 'unhealthyForMs' | 'dead'>, deadAfterMs?: number): string {
  if (m.healthy) return '';
  // Whole seconds: the clock only ticks with the health checks.
  const forWords = `unhealthy for ${formatDuration(Math.round((m.unhealthyForMs ?? 0) / 1000) * 1000) || '0s'}`;
  if (!m.dead) return forWords;
  return `dead: ${forWords}${deadAfterMs === undefined ? '' : ` (dead after ${formatDuration(deadAfterMs)})`}`;
}
