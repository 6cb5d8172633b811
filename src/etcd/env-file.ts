/**
 * Environment files as systemd's `EnvironmentFile=` reads them (and as
 * `set -a; . FILE; set +a` reads them in a POSIX shell): `KEY=VALUE` lines,
 * `#`/`;` comment lines, values optionally in double quotes with backslash
 * escapes. We only ever write single-line values, quoted when they hold
 * anything beyond a conservative safe set.
 */
import { EtcdConfInvalid } from './errors.js';
import { ENV_KEY } from '../util/env-file.js';

const SAFE_VALUE = /^[A-Za-z0-9_@%+=:,./-]*$/;
/** Characters that keep their backslash-escaped meaning inside double quotes (systemd's SHELL_NEED_ESCAPE). */
const NEED_ESCAPE = /[\\"`$]/g;

/** Throws EA_ETCD_CONF_INVALID unless `value` can be written on one env-file line. */
export function checkValue(field: string, value: string): void {
  if (typeof value !== 'string') throw EtcdConfInvalid(field, 'is not a string');
  // eslint-disable-next-line no-control-regex
  if (/[\n\r]/.test(value)) throw EtcdConfInvalid(field, `contains a newline (${JSON.stringify(value)})`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw EtcdConfInvalid(field, `contains a control character (${JSON.stringify(value)})`);
  if (/["']/.test(value)) throw EtcdConfInvalid(field, `contains a quote character (${JSON.stringify(value)})`);
}

/** The right-hand side of `KEY=…`: bare when safe, else double-quoted with escapes. */
export function formatEnvValue(value: string): string {
  if (SAFE_VALUE.test(value)) return value;
  return `"${value.replace(NEED_ESCAPE, (c) => `\\${c}`)}"`;
}

export function formatEnvLine(key: string, value: string): string {
  return `${key}=${formatEnvValue(value)}`;
}

/**
 * Sets `key` to `value` in an environment file's text. Every line assigning
 * `key` is replaced by `KEY=value` (line endings kept); when none does, the
 * assignment is appended. All other bytes stay as they were.
 */
export function setEnvFileValue(text: string, key: string, value: string): string {
  if (!ENV_KEY.test(key)) throw EtcdConfInvalid(key, 'is not a valid environment variable name');
  checkValue(key, value);
  const line = formatEnvLine(key, value);
  const assigns = new RegExp(`^[ \\t]*${key}[ \\t]*=[^\\r\\n]*`, 'gm');
  if (assigns.test(text)) {
    assigns.lastIndex = 0;
    return text.replace(assigns, () => line);
  }
  if (text === '' ) return `${line}\n`;
  return text.endsWith('\n') ? `${text}${line}\n` : `${text}\n${line}\n`;
}
