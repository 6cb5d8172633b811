/**
 * What the running test has started that can say how it is doing (agent sets
 * register on init and leave on cleanup): a wait that times out without its
 * own `describe` prints theirs, so a CI failure shows every agent's phase and
 * log tail rather than only "timed out".
 */
const describers = new Set<() => Promise<string>>();

/** Registers a describer for failure messages; returns its removal. */
export function registerDescriber(describe: () => Promise<string>): () => void {
  describers.add(describe);
  return () => {
    describers.delete(describe);
  };
}

async function describeRunning(): Promise<string> {
  const parts = await Promise.all([...describers].map((d) => d().catch((e: unknown) => `(could not describe: ${String(e)})`)));
  return parts.filter(Boolean).join('\n');
}

/** Polls `check` until it returns a value (not undefined/false) or the bound passes; the error names what was awaited and the last observation. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs: number; intervalMs?: number; describe?: () => Promise<string> | string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = await Promise.resolve(options.describe ? options.describe() : describeRunning()).catch((e: unknown) => String(e));
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${what}${last ? `; last error: ${String(last)}` : ''}${detail ? `\n${detail}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}

/**
 * Statuses once every node names a CA holder. Right after formation the
 * CA-role election may not have a leader for a moment (the member that made
 * the CA has to win it first); /status then names nobody rather than a holder
 * it cannot vouch for. Bounded; the caller then checks they all name the same.
 */
export async function waitCaHolderNamed<S extends { caHolder: { nodeId: string } | null }>(fetch: () => Promise<S[]>, timeoutMs = 30_000): Promise<S[]> {
  let last: S[] = [];
  await waitFor('every node to name a CA holder', async () => {
    last = await fetch();
    return last.every((s) => s.caHolder !== null);
  }, { timeoutMs, intervalMs: 250 });
  return last;
}
