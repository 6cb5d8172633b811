import { AgentError } from '../../util/errors.js';

/** One thing wrong with the configuration; `message` is a whole sentence that names the key. */
export interface ConfigProblem {
  /** Dotted key path (`cluster.size`), or the config file's path for file-level problems. */
  key: string;
  message: string;
}

export const CONFIG_INVALID = 'EA_CONFIG_INVALID';
/** The node has no configuration yet (the packages install a config with every key commented out). */
export const NOT_CONFIGURED = 'EA_NOT_CONFIGURED';

/**
 * The single error `loadConfig` throws: every problem found, one per line, and
 * the same list in `problems` for programs. Exit code 2 (bad configuration;
 * the catalogue's exit code for both codes).
 */
export class ConfigError extends AgentError {
  readonly problems: readonly ConfigProblem[];
  readonly source: string | undefined;

  constructor(
    problems: readonly ConfigProblem[],
    source?: string,
    code: typeof CONFIG_INVALID | typeof NOT_CONFIGURED | 'EA_ETCD_DATA_DIR_IN_USE' = CONFIG_INVALID,
  ) {
    super(code, formatProblems(problems, source));
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

/**
 * No configuration at all: the default config file is missing, or sets no key
 * (as the packages install it). `check-config` reports it like any invalid
 * config (exit 2); `run` reports it and exits 0, so that an installed but
 * unconfigured agent started by systemd ends cleanly instead of failing and
 * restarting.
 */
export class NotConfiguredError extends ConfigError {
  constructor(source: string, why: string) {
    const message =
      `not configured: ${source} ${why}. Run \`etcd-agent init --cluster NAME --size N --token-file FILE [--seeds HOST,...]\`` +
      ' (see `etcd-agent init --help`), then start the agent again (systemctl start etcd-agent)';
    super([{ key: source, message }], source, NOT_CONFIGURED);
    this.name = 'NotConfiguredError';
  }
}

export function isNotConfiguredError(err: unknown): err is NotConfiguredError {
  return err instanceof NotConfiguredError;
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
