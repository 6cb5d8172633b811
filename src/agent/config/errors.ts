import { AgentError } from '../../util/errors.js';

/** One thing wrong with the configuration; `message` is a whole sentence that names the key. */
export interface ConfigProblem {
  /** Dotted key path (`cluster.size`), or the config file's path for file-level problems. */
  key: string;
  message: string;
}

export const CONFIG_INVALID = 'EA_CONFIG_INVALID';

/**
 * The single error `loadConfig` throws: every problem found, one per line, and
 * the same list in `problems` for programs. Exit code 2 (bad configuration).
 */
export class ConfigError extends AgentError {
  readonly problems: readonly ConfigProblem[];
  readonly source: string | undefined;

  constructor(problems: readonly ConfigProblem[], source?: string) {
    super(CONFIG_INVALID, formatProblems(problems, source), { exitCode: 2 });
    this.name = 'ConfigError';
    this.problems = problems;
    this.source = source;
  }
}

export function formatProblems(problems: readonly ConfigProblem[], source?: string): string {
  const where = source === undefined ? 'configuration' : `config file ${source}`;
  const only = problems[0];
  if (problems.length === 1 && only !== undefined && only.key === source) return only.message;
  const head = `${where} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):`;
  return [head, ...problems.map((p) => `  - ${p.message}`)].join('\n');
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
