/**
 * Environment files as systemd's `EnvironmentFile=` reads them (and as
 * `set -a; . FILE; set +a` reads them in a POSIX shell): `KEY=VALUE` lines,
 * `#`/`;` comment lines, values optionally in double quotes with backslash
 * escapes. We only ever write single-line values, quoted when they hold
 * anything beyond a conservative safe set.
 */
import { EtcdConfInvalid } from './errors.js';

const SAFE_VALUE = /^[A-Za-z0-9_@%+=:,./-]*$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Characters that keep their backslash-escaped meaning inside double quotes (systemd's SHELL_NEED_ESCAPE). */
const NEED_ESCAPE = /[\\"`$]/g;
const WHITESPACE = ' \t\n\r';
const NEWLINE = '\n\r';

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

type State =
  | 'preKey'
  | 'key'
  | 'preValue'
  | 'value'
  | 'valueEscape'
  | 'single'
  | 'double'
  | 'doubleEscape'
  | 'comment'
  | 'commentEscape';

/**
 * Parses an environment file with the same rules as systemd's
 * `parse_env_file`: comments only at the start of a line, whitespace around
 * keys and unquoted values trimmed, `'…'` literal, `"…"` with `\"`, `\\`,
 * `` \` `` and `\$` escapes, backslash escapes in unquoted values. Lines whose
 * key is not a valid variable name are ignored, as systemd does. Later
 * assignments win.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let state: State = 'preKey';
  let key = '';
  let value = '';
  // Length of `value` up to its last character that must be kept (trailing unquoted whitespace is trimmed).
  let keep = 0;

  const push = (): void => {
    const k = key.trimEnd();
    if (ENV_KEY.test(k)) out[k] = value.slice(0, keep);
    key = '';
    value = '';
    keep = 0;
  };

  for (const c of text) {
    switch (state) {
      case 'preKey':
        if (c === '#' || c === ';') state = 'comment';
        else if (!WHITESPACE.includes(c)) {
          state = 'key';
          key = c;
        }
        break;
      case 'key':
        if (NEWLINE.includes(c)) {
          state = 'preKey';
          key = '';
        } else if (c === '=') {
          state = 'preValue';
        } else key += c;
        break;
      case 'preValue':
        if (NEWLINE.includes(c)) {
          state = 'preKey';
          push();
        } else if (c === "'") state = 'single';
        else if (c === '"') state = 'double';
        else if (c === '\\') state = 'valueEscape';
        else if (!WHITESPACE.includes(c)) {
          state = 'value';
          value += c;
          keep = value.length;
        }
        break;
      case 'value':
        if (NEWLINE.includes(c)) {
          state = 'preKey';
          push();
        } else if (c === '\\') state = 'valueEscape';
        else {
          value += c;
          if (!WHITESPACE.includes(c)) keep = value.length;
        }
        break;
      case 'valueEscape':
        state = 'value';
        if (!NEWLINE.includes(c)) {
          value += c;
          keep = value.length;
        }
        break;
      case 'single':
        if (c === "'") state = 'preValue';
        else {
          value += c;
          keep = value.length;
        }
        break;
      case 'double':
        if (c === '"') state = 'preValue';
        else if (c === '\\') state = 'doubleEscape';
        else {
          value += c;
          keep = value.length;
        }
        break;
      case 'doubleEscape':
        state = 'double';
        if ('"\\`$'.includes(c)) value += c;
        else if (c !== '\n') value += `\\${c}`;
        keep = value.length;
        break;
      case 'comment':
        if (c === '\\') state = 'commentEscape';
        else if (NEWLINE.includes(c)) state = 'preKey';
        break;
      case 'commentEscape':
        state = 'comment';
        break;
    }
  }
  if (state === 'preValue' || state === 'value' || state === 'valueEscape' || state === 'single' || state === 'double' || state === 'doubleEscape') {
    push();
  }
  return out;
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
