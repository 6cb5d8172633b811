/**
 * Since when each member has been seen unhealthy, from the health
 * controller's successive observations (in memory: a restarted agent starts
 * counting again, which only ever delays a decision built on it).
 */
export class UnhealthySince {
  private readonly since = new Map<string, number>();

  update(members: readonly { id: string; healthy: boolean }[], now = Date.now()): void {
    const present = new Set(members.map((m) => m.id));
    for (const id of this.since.keys()) if (!present.has(id)) this.since.delete(id);
    for (const m of members) {
      if (m.healthy) this.since.delete(m.id);
      else if (!this.since.has(m.id)) this.since.set(m.id, now);
    }
  }

  map(): ReadonlyMap<string, number> {
    return this.since;
  }
}
