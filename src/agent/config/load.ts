import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { defaultConfigPath } from './defaults.js';
import { ENV_OVERRIDES } from './env.js';
import { ConfigError, NotConfiguredError, type ConfigProblem } from './errors.js';
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

/**
 * Parses YAML text. Syntax errors name the file, line and column, but never
 * quote the offending line: it might be the one holding the token.
 */
export function parseConfigText(text: string, source = '(config)'): { raw?: unknown; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((err): ConfigProblem => {
      const pos = err.linePos?.[0];
      const what = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
      const where = pos === undefined ? source : `${source} line ${pos.line}, column ${pos.col}`;
      return { key: source, message: `config file ${where}: YAML syntax error: ${what}; fix the file (check indentation, ":" and quoting)` };
    });
    return { problems };
  }
  return { raw: doc.toJS({ maxAliasCount: 50 }) as unknown, problems: [] };
}

/** True when YAML text sets no key: empty, comments only (the config file the packages install), or `{}`. */
export function setsNoKeys(text: string): boolean {
  const parsed = parseConfigText(text);
  if (parsed.problems.length > 0) return false;
  const raw = parsed.raw;
  return raw === null || raw === undefined || (typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0);
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
  let text: string;
  let sourceMode: number;
  try {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      if (st.isDirectory()) throw Object.assign(new Error(`${path} is a directory`), { code: 'EISDIR' });
      sourceMode = st.mode & 0o7777;
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    let message: string;
    if (code === 'ENOENT' && isDefaultPath && !anyOverride) {
      throw new NotConfiguredError(path, 'does not exist');
    } else if (code === 'ENOENT') {
      message = `config file ${path} does not exist: run \`etcd-agent init --cluster NAME --size N --token-file FILE\` first`;
    } else if (code === 'EACCES') {
      message = `config file ${path} cannot be read (permission denied): run etcd-agent as root or as the file's owner`;
    } else if (code === 'EISDIR') {
      message = `config file ${path} is a directory; give the path of the YAML file (--config PATH)`;
    } else {
      message = `config file ${path} cannot be read: ${(err as Error).message}`;
    }
    throw new ConfigError([{ key: path, message }], path);
  }

  if (!anyOverride && setsNoKeys(text)) throw new NotConfiguredError(path, 'sets no keys yet (every key is commented out, as the package installs it)');
  const parsed = parseConfigText(text, path);
  if (parsed.problems.length > 0) throw new ConfigError(parsed.problems, path);
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
