/**
 * Every error the agent reports to an operator is an AgentError: a stable
 * machine-readable code plus a sentence that says what is wrong and what to do.
 * Modelled on fastify's error classes. Subsystems define their own codes with
 * `defineError` so codes stay greppable and unique.
 */
export class AgentError extends Error {
  readonly code: string;
  /** Process exit code when this error ends a CLI command. */
  readonly exitCode: number;

  constructor(code: string, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

export interface ErrorFactory<A extends unknown[]> {
  (...args: A): AgentError;
  readonly code: string;
}

/**
 * defineError('EA_PKI_CSR_SAN', (san: string) => `CSR asks for ${san}; ...`)
 * returns a factory; `factory.code` is the stable code for tests and callers.
 */
export function defineError<A extends unknown[]>(
  code: string,
  message: (...args: A) => string,
  exitCode = 1,
): ErrorFactory<A> {
  const factory = (...args: A): AgentError => new AgentError(code, message(...args), { exitCode });
  return Object.assign(factory, { code });
}

export function isAgentError(err: unknown, code?: string): err is AgentError {
  return err instanceof AgentError && (code === undefined || err.code === code);
}

/** A short reason for logs and /status from anything thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
