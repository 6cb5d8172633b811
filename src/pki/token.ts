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
  return undefined;
}
