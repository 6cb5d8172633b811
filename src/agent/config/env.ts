import type { ConfigProblem } from './errors.js';
import { CONFIG_FIELDS, CONFIG_PATH_ENV, ENV_PREFIX, type FieldSpec } from './schema.js';
import { closest } from './suggest.js';
import { trimToken } from '../../pki/token.js';
import { FAILPOINTS_ENV } from '../../util/failpoint.js';

/**
 * ETCD_AGENT_<SECTION>_<KEY> environment overrides, derived from the key
 * table in schema.ts. Values arrive as strings and are converted to the key's
 * type where that is unambiguous; anything else is left as the string so the
 * validator reports it with the variable's name.
 */

export interface EnvOverride {
  path: string;
  env: string;
}

/** Every overridable key and its variable, in table order. */
export const ENV_OVERRIDES: readonly EnvOverride[] = CONFIG_FIELDS.flatMap((f) =>
  f.env === undefined ? [] : [{ path: f.path, env: f.env }],
);

/** Keys that are alternatives: setting one from the environment drops the other from the file. */
const ALTERNATIVES: ReadonlyMap<string, string> = new Map([
  ['cluster.token', 'cluster.tokenFile'],
  ['cluster.tokenFile', 'cluster.token'],
]);

/** Environment variables with the ETCD_AGENT_ prefix that are not key overrides. */
const OTHER_KNOWN_ENV = new Set([CONFIG_PATH_ENV, FAILPOINTS_ENV]);

export interface EnvResult {
  /** A copy of the raw config with the overrides applied (the input is not modified). */
  raw: unknown;
  /** Key path → the variable that set it, for messages. */
  origins: Map<string, string>;
  warnings: ConfigProblem[];
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Converts an environment string to the key's type; returns the string itself when it does not convert. */
export function envValue(field: FieldSpec, text: string): unknown {
  const value = text.trim();
  switch (field.kind.type) {
    case 'int':
      return /^[+-]?\d+$/.test(value) ? Number(value) : value;
    case 'bool': {
      const lower = value.toLowerCase();
      if (TRUE.has(lower)) return true;
      if (FALSE.has(lower)) return false;
      return value;
    }
    case 'list':
      return value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'secret':
      // A token read from the environment, e.g. `$(cat file)`.
      return trimToken(text);
    default:
      return value;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cloneSections(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = isPlainObject(v) ? { ...v } : v;
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const dot = path.indexOf('.');
  if (dot < 0) {
    target[path] = value;
    return;
  }
  const section = path.slice(0, dot);
  const key = path.slice(dot + 1);
  const current = target[section];
  // A section that is not a mapping stays as it is: the validator reports it.
  if (current === undefined || current === null) target[section] = { [key]: value };
  else if (isPlainObject(current)) current[key] = value;
}

function deletePath(target: Record<string, unknown>, path: string): void {
  const [section, key] = path.split('.');
  if (section === undefined || key === undefined) return;
  const current = target[section];
  if (isPlainObject(current)) delete current[key];
}

/**
 * Applies every ETCD_AGENT_* override found in `env` to `raw`. Empty
 * variables count as unset. Unknown ETCD_AGENT_* variables are warnings (with
 * a suggestion), not errors: other tools may share the prefix.
 */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): EnvResult {
  const origins = new Map<string, string>();
  const warnings: ConfigProblem[] = [];
  const base = raw === null || raw === undefined ? {} : raw;
  if (!isPlainObject(base)) return { raw: base, origins, warnings };
  const out = cloneSections(base);

  const known = new Set<string>(OTHER_KNOWN_ENV);
  for (const f of CONFIG_FIELDS) {
    if (f.env === undefined) continue;
    known.add(f.env);
    const text = env[f.env];
    if (text === undefined || text.trim() === '') continue;
    setPath(out, f.path, envValue(f, text));
    origins.set(f.path, f.env);
  }
  for (const [path, other] of ALTERNATIVES) {
    if (origins.has(path) && !origins.has(other)) deletePath(out, other);
  }

  const knownList = [...known];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || known.has(name)) continue;
    const guess = closest(name, knownList);
    warnings.push({
      key: name,
      message: `environment variable ${name} is not a setting of etcd-agent and is ignored${guess === undefined ? '' : ` — did you mean ${guess}?`}`,
    });
  }
  return { raw: out, origins, warnings };
}
