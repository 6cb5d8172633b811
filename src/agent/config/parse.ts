import { Composer, Lexer, LineCounter, Parser, type CST, type Document, type YAMLError } from 'yaml';
import type { ConfigProblem } from './errors.js';

/**
 * YAML text to a plain value, for the config file only, with hostile input in
 * mind: the text is parsed once; nesting deeper than any config needs is
 * refused before the yaml library composes it (its composer recurses, and a
 * few thousand "[" abort the process, not just the parse), and so is a file
 * with far more tokens than a config has (the parser's time and memory);
 * aliases are expanded a bounded number of times; only the first few syntax
 * errors are reported.
 */

/** A config is a mapping of sections of keys, one of which (etcd.extraEnv) is a mapping: depth 3 is all it needs. */
export const MAX_CONFIG_DEPTH = 16;
/** Alias expansions allowed in toJS; a "billion laughs" document needs far more. */
export const MAX_ALIAS_COUNT = 50;
/** YAML tokens other than spaces, line breaks and comments; a config has a few hundred, a thousand seeds some thousands. */
export const MAX_CONFIG_TOKENS = 20_000;
const MAX_REPORTED_ERRORS = 10;

export interface ParsedConfig {
  raw?: unknown;
  problems: ConfigProblem[];
}

/**
 * A cheap first pass over the lexer's tokens that stops as soon as the text is
 * too deep or too big to be a config: flow collections ("[", "{") and block
 * sequences or explicit keys started on one line ("- - - x") cost a byte or
 * two per level, so a small file can nest deeply (indentation costs a line per
 * level: the parsed-token walk below counts that); and a file with far more
 * tokens than any config would cost the parser and composer seconds and
 * hundreds of megabytes, mostly in error objects.
 */
function lexedProblem(text: string): 'depth' | 'tokens' | undefined {
  let flow = 0;
  let onLine = 0;
  let significant = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '\n' || token === '\r\n') {
      onLine = 0;
      continue;
    }
    if (token.startsWith('#') || /^[ \t]+$/.test(token)) continue;
    if (++significant > MAX_CONFIG_TOKENS) return 'tokens';
    if (token === '[' || token === '{') flow++;
    else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    else if (flow === 0 && (token === '-' || token === '?')) onLine++;
    if (flow + onLine > MAX_CONFIG_DEPTH) return 'depth';
  }
  return undefined;
}

/** The deepest collection nesting in the parser's tokens, walked without recursion. */
function cstDepth(tokens: readonly CST.Token[]): number {
  let max = 0;
  const stack: { token: CST.Token; depth: number }[] = tokens.map((token) => ({ token, depth: 0 }));
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { token, depth } = next;
    if (token.type === 'document') {
      if (token.value !== undefined) stack.push({ token: token.value, depth });
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      const inner = depth + 1;
      if (inner > max) max = inner;
      if (max > MAX_CONFIG_DEPTH) return max;
      for (const item of token.items) {
        if (item.key !== undefined && item.key !== null) stack.push({ token: item.key, depth: inner });
        if (item.value !== undefined) stack.push({ token: item.value, depth: inner });
      }
    }
  }
  return max;
}

function tooDeep(source: string): ParsedConfig {
  return {
    problems: [
      {
        key: source,
        message: `config file ${source} nests collections more than ${MAX_CONFIG_DEPTH} levels deep; a config needs three (section, key, value list or mapping): fix the file`,
      },
    ],
  };
}

/**
 * Parses YAML text. Syntax errors name the file, line and column, but never
 * quote the offending line: it might be the one holding the token.
 */
export function parseConfigText(text: string, source = '(config)'): ParsedConfig {
  const lexed = lexedProblem(text);
  if (lexed === 'depth') return tooDeep(source);
  if (lexed === 'tokens') {
    const message = `config file ${source} holds more than ${MAX_CONFIG_TOKENS} YAML tokens, far more than any config; it was not parsed — check the path`;
    return { problems: [{ key: source, message }] };
  }
  const lines = new LineCounter();
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  if (cstDepth(tokens) > MAX_CONFIG_DEPTH) return tooDeep(source);

  const docs: Document.Parsed[] = [...new Composer({ uniqueKeys: true }).compose(tokens, true, text.length)];
  const [doc, second] = docs;
  if (doc === undefined) return { raw: null, problems: [] };
  const errors: YAMLError[] = [...doc.errors];
  const syntax = (err: { message: string; pos: [number, number] }): ConfigProblem => {
    const pos = lines.linePos(err.pos[0]);
    const what = err.message.split('\n')[0] ?? err.message;
    return {
      key: source,
      message: `config file ${source} line ${pos.line}, column ${pos.col}: YAML syntax error: ${what}; fix the file (check indentation, ":" and quoting)`,
    };
  };
  const problems = errors.slice(0, MAX_REPORTED_ERRORS).map(syntax);
  if (second !== undefined) {
    problems.push(syntax({ message: 'the file holds more than one YAML document ("---"); a config is one document', pos: [second.range[0], second.range[1]] }));
  }
  if (errors.length > MAX_REPORTED_ERRORS) {
    problems.push({ key: source, message: `config file ${source}: ${errors.length - MAX_REPORTED_ERRORS} more YAML syntax errors not listed` });
  }
  if (problems.length > 0) return { problems };

  try {
    return { raw: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown, problems: [] };
  } catch (err) {
    // yaml throws a ReferenceError for an alias bomb ("Excessive alias count ...") and for an unresolved alias.
    const why = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
    return {
      problems: [
        {
          key: source,
          message: `config file ${source} cannot be read: its YAML aliases (*name) expand too much or cannot be resolved (${why}); aliases are limited to ${MAX_ALIAS_COUNT} expansions: write the values out instead`,
        },
      ],
    };
  }
}

/** True when a parsed config sets no key: empty, comments only (the config file the packages install), or `{}`. */
export function setsNothing(raw: unknown): boolean {
  return raw === null || raw === undefined || (typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0);
}

/** True when YAML text sets no key; a file that does not parse sets something (it is reported as broken). */
export function setsNoKeys(text: string): boolean {
  const parsed = parseConfigText(text);
  return parsed.problems.length === 0 && setsNothing(parsed.raw);
}
