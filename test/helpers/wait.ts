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
      const detail = options.describe ? await Promise.resolve(options.describe()).catch((e: unknown) => String(e)) : '';
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
