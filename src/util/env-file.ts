/**
 * Reading and editing environment files as systemd's `EnvironmentFile=` reads
 * them (a port of its `parse_env_file` state machine), so the process backend
 * gives etcd exactly the environment etcd.service would, and the new→existing
 * flip edits one line and nothing else. Shared by src/etcd and src/systemd.
 */
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const WHITESPACE = ' \t\n\r';
const NEWLINE = '\n\r';

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
