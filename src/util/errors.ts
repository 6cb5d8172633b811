import { exitCodeOf, type ErrorCode } from './error-catalogue.js';

export type { ErrorCode } from './error-catalogue.js';

/**
 * Every error the agent reports to an operator is an AgentError: a stable
 * machine-readable code plus a sentence that says what is wrong and what to do.
 * Modelled on fastify's error classes. Subsystems define their messages with
 * `defineError`; every code must be listed in src/util/error-catalogue.ts
 * (the type refuses any other), which documents it and sets its exit code.
 */
export class AgentError extends Error {
  readonly code: ErrorCode;
  /** Process exit code when this error ends a CLI command (the catalogue's, unless overridden). */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.exitCode = options?.exitCode ?? exitCodeOf(code);
  }
}

export interface ErrorFactory<A extends unknown[], C extends ErrorCode = ErrorCode> {
  (...args: A): AgentError;
  readonly code: C;
}

/**
 * defineError('EA_PKI_CSR_REJECTED', (reason: string) => `... refused: ${reason}; ...`)
 * returns a factory; `factory.code` is the stable code for tests and callers.
 * The exit code is the catalogue's unless `exitCode` is given.
 */
export function defineError<A extends unknown[], C extends ErrorCode = ErrorCode>(
  code: C,
  message: (...args: A) => string,
  exitCode?: number,
): ErrorFactory<A, C> {
  const options = exitCode === undefined ? undefined : { exitCode };
  const factory = (...args: A): AgentError => new AgentError(code, message(...args), options);
  return Object.assign(factory, { code });
}

export function isAgentError(err: unknown, code?: ErrorCode): err is AgentError {
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
