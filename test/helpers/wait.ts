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
