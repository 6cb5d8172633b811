import { randomBytes } from 'node:crypto';

/** Marks tokens we generated; versioned so a future format can be told apart. */
export const TOKEN_PREFIX = 'eat1_';
/** 22 base64url characters carry 132 bits, the least we accept for a brought token. */
export const MIN_TOKEN_LENGTH = 22;
export const MAX_TOKEN_LENGTH = 1024;

/** 256 bits of randomness; far above the 128-bit floor. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * The least estimated strength of a token people bring (docs/protocol.md says
 * why): 120 by the estimate below, which a random 128-bit token (22 base64url
 * or 32 hex characters) passes, and repeated or patterned text does not.
 */
export const MIN_TOKEN_BITS = 120;

/**
 * A conservative estimate of a token's strength in bits. Anyone who can pose
 * as a seed can check guesses of the token offline (docs/protocol.md), so a
 * token must be too strong to guess. Generated tokens carry 256 random bits.
 * For a token people bring, each character counts log2 of the pool of the
 * character classes the token uses, except one that continues a run of three
 * (aaa, abc, 321) or starts a four-character sequence seen earlier
 * (Pass1Pass1); a token of fewer than 8 distinct characters
 * carries at most log2(distinct) per character. It cannot see that a phrase
 * is made of dictionary words: use `etcd-agent token generate`.
 */
export function tokenStrengthBits(token: string): number {
  if (/^eat1_[A-Za-z0-9_-]{43}$/.test(token)) return 256;
  const pool =
    (/[a-z]/.test(token) ? 26 : 0) + (/[A-Z]/.test(token) ? 26 : 0) + (/[0-9]/.test(token) ? 10 : 0) + (/[^A-Za-z0-9]/.test(token) ? 32 : 0);
  if (pool === 0) return 0;
  let bits = 0;
  for (let i = 0; i < token.length; i++) {
    const step = i < 1 ? NaN : token.charCodeAt(i) - token.charCodeAt(i - 1);
    const before = i < 2 ? NaN : token.charCodeAt(i - 1) - token.charCodeAt(i - 2);
    if ((step === 0 || step === 1 || step === -1) && step === before) continue;
    const gram = token.slice(i, i + 4);
    if (gram.length === 4 && token.indexOf(gram) < i) continue;
    bits += Math.log2(pool);
  }
  const distinct = new Set(token).size;
  if (distinct < 8) bits = Math.min(bits, token.length * Math.log2(Math.max(distinct, 1)));
  return Math.floor(bits);
}

/**
 * The token in text as people and tools write it (a token file's newline,
 * `$(cat file)`, a padded YAML value): whitespace around it is not part of it.
 * The one way every reader trims a token, so a file, the environment, the
 * config and `init --token` agree; whitespace inside is left for tokenProblem.
 */
export function trimToken(text: string): string {
  return text.trim();
}

/** Returns why a token is unacceptable, or undefined when it is fine. */
export function tokenProblem(token: string): string | undefined {
  if (typeof token !== 'string' || token.length === 0) {
    return 'The join token is empty; create one with `etcd-agent token generate` and give the same token to every node.';
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    return (
      `The join token is ${token.length} characters long; it must be at least ${MIN_TOKEN_LENGTH} characters ` +
      '(about 128 bits of random base64url). Create one with `etcd-agent token generate`.'
    );
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    return `The join token is ${token.length} characters long; it must be at most ${MAX_TOKEN_LENGTH}. Create one with \`etcd-agent token generate\`.`;
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    return (
      'The join token contains whitespace or characters outside printable ASCII (often a stray newline or space ' +
      'from a token file); use only printable ASCII characters, e.g. a token from `etcd-agent token generate`.'
    );
  }
  const bits = tokenStrengthBits(token);
  if (bits < MIN_TOKEN_BITS) {
    return (
      `The join token is too weak: about ${bits} bits by a conservative estimate, and at least ${MIN_TOKEN_BITS} are needed, ` +
      'because anyone who can pose as a seed can test guesses of it offline (repeated characters, runs like "abc" and few ' +
      'distinct characters count for little). Create one with `etcd-agent token generate`.'
    );
  }
  return undefined;
}
