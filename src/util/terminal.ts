/**
 * Makes a string safe to print on a terminal: control characters (C0, DEL,
 * C1), and the Unicode controls that reorder or break lines (bidi overrides
 * and isolates, line and paragraph separators), become visible escapes such
 * as \x1b or \u202e, so text that came from a peer cannot move the cursor,
 * recolour or retitle the terminal, or hide what follows it.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function sanitizeForTerminal(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Every string in a JSON-shaped value, sanitized (for reports built from what peers said). */
export function sanitizeDeep<T>(value: T): T {
  if (typeof value === 'string') return sanitizeForTerminal(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => sanitizeDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = sanitizeDeep(v);
    return out as T;
  }
  return value;
}

/**
 * JSON for a terminal: JSON.stringify already escapes C0 controls, but not
 * DEL, C1 or the Unicode line and direction controls; those become \uXXXX,
 * which is the same JSON.
 */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** UNSAFE less C0: JSON.stringify escapes those inside strings, and its own line breaks must stay. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
