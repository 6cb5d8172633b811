import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AgentError, defineError } from '../../util/errors.js';

/** Bad command line: exit code 2, the message names the flag and points at --help. */
export const usageError = defineError('EA_CLI_USAGE', (message: string) => message);

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Where CLI output goes; tests pass their own streams and environment. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** True when the arguments ask for help (`-h` or `--help` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/**
 * node:util parseArgs in strict mode, with its errors turned into usage
 * errors that say which command and where the help is.
 */
export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  args: string[],
  options: O,
  maxPositionals = 0,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>> {
  const help = `see \`etcd-agent ${command} --help\``;
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const name = /'(-[^' ]+)/.exec(e.message)?.[1];
    switch (e.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw usageError(`unknown option ${name ?? e.message} for \`etcd-agent ${command}\`; ${help}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        if (/does not take an argument/.test(e.message)) throw usageError(`option ${name ?? '?'} takes no value; ${help}`);
        throw usageError(`option ${name ?? '?'} needs a value (use ${name ?? '--option'}=VALUE for a value starting with "-"); ${help}`);
      default:
        throw usageError(`${e.message}; ${help}`);
    }
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals[maxPositionals];
    throw usageError(`unexpected argument ${JSON.stringify(extra)} for \`etcd-agent ${command}\`; ${help}`);
  }
  return parsed;
}

/** Writes an error the CLI way and returns its exit code. */
export function reportError(io: CliIo, err: unknown): number {
  if (err instanceof AgentError) {
    io.stderr.write(`etcd-agent: ${err.message}\n`);
    return err.exitCode;
  }
  io.stderr.write(`etcd-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}
