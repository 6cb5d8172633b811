import { resolve } from 'node:path';
import { defaultConfigPath } from './defaults.js';
import { ENV_OVERRIDES } from './env.js';
import { ConfigError, NotConfiguredError, type ConfigProblem } from './errors.js';
import { parseConfigText, setsNothing } from './parse.js';
import { readSmallRegularFile } from './read-file.js';
import { CONFIG_PATH_ENV } from './schema.js';
import type { AgentConfig } from './types.js';
import { validateRawConfig, type ValidateContext } from './validate.js';

export interface LoadConfigOptions {
  /** Config file (the --config flag); wins over ETCD_AGENT_CONFIG and the default. */
  path?: string;
  /** Environment for ETCD_AGENT_* overrides; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Overrides paths.root (the --root flag); also prefixes the default config path. */
  root?: string;
  /** Test hooks: hostname, interfaces, token file reader. */
  context?: Pick<ValidateContext, 'hostname' | 'networkInterfaces' | 'readTokenFile'>;
}

export interface LoadedConfig {
  config: AgentConfig;
  warnings: ConfigProblem[];
}

/** Larger config files are refused unread: a config is a few hundred bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** --config, else ETCD_AGENT_CONFIG, else <root>/etc/etcd-agent/config.yaml; relative paths resolve against the cwd. */
export function resolveConfigPath(options: { path?: string; env?: NodeJS.ProcessEnv; root?: string } = {}): string {
  const env = options.env ?? process.env;
  const fromEnv = env[CONFIG_PATH_ENV];
  const chosen =
    options.path !== undefined && options.path !== ''
      ? options.path
      : fromEnv !== undefined && fromEnv !== ''
        ? fromEnv
        : defaultConfigPath(options.root === undefined ? '/' : resolve(options.root));
  return resolve(chosen);
}

/** Loads, overrides, validates; returns the config and any warnings, or throws one ConfigError. Writes nothing. */
export async function loadConfigDetailed(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const path = resolveConfigPath({ ...options, env });
  // "Not configured" (rather than invalid) only when nothing at all says how to run: no
  // ETCD_AGENT_* key override, and the default file missing or without keys. A
  // --config or ETCD_AGENT_CONFIG naming a missing file stays an error.
  const anyOverride = ENV_OVERRIDES.some((o) => (env[o.env] ?? '').trim() !== '');
  const isDefaultPath = path === resolveConfigPath({ env: {}, ...(options.root !== undefined ? { root: options.root } : {}) });
  const file = `config file ${path}`;
  const read = readSmallRegularFile(path, MAX_CONFIG_BYTES);
  if (!read.ok) {
    let message: string;
    if (read.code === 'ENOENT' && isDefaultPath && !anyOverride) {
      throw new NotConfiguredError(path, 'does not exist');
    } else if (read.code === 'ENOENT') {
      message = `${file} does not exist: run \`etcd-agent init --cluster NAME --size N --token-file FILE\` first`;
    } else if (read.code === 'EACCES') {
      message = `${file} cannot be read (permission denied): run etcd-agent as root or as the file's owner`;
    } else if (read.code === 'ENOTFILE') {
      message = read.kind === 'a directory' ? `${file} is a directory; give the path of the YAML file (--config PATH)` : `${file} is ${read.kind ?? 'something else'}, not a regular file; give the path of the YAML file (--config PATH)`;
    } else if (read.code === 'EFBIG') {
      message = `${file} is larger than ${MAX_CONFIG_BYTES} bytes (1 MiB), far more than any config needs; it was not read — check the path`;
    } else {
      message = `${file} cannot be read: ${read.message}`;
    }
    throw new ConfigError([{ key: path, message }], path);
  }
  const { content: text, mode: sourceMode } = read;

  const parsed = parseConfigText(text, path);
  if (parsed.problems.length > 0) throw new ConfigError(parsed.problems, path);
  if (!anyOverride && setsNothing(parsed.raw)) {
    if (isDefaultPath) throw new NotConfiguredError(path, 'sets no keys yet (every key is commented out, as the package installs it)');
    // Only the default file stands for "installed, not configured yet": a file
    // named on purpose that sets nothing is a mistake (wrong file, truncated copy).
    const message = `${file} sets no keys (it is empty or every line is a comment): give the config that was meant, or write one with \`etcd-agent init --config ${path} ...\``;
    throw new ConfigError([{ key: path, message }], path);
  }
  const context: ValidateContext = { ...options.context, source: path, sourceMode };
  if (options.root !== undefined) context.root = resolve(options.root);
  const result = validateRawConfig(parsed.raw, env, context);
  if (result.config === undefined) throw new ConfigError(result.problems, path);
  return { config: result.config, warnings: result.warnings };
}

/** The resolved configuration; throws a ConfigError (EA_CONFIG_INVALID, exit code 2) listing every problem. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<AgentConfig> {
  return (await loadConfigDetailed(options)).config;
}
