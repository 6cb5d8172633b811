import t from 'tap';
import { createHash, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import {
  deriveHelloKey,
  deriveHelloKeyAsync,
  helloProof,
  newNonce,
  verifyHelloProof,
  type HelloProofInput,
} from '../../src/pki/hello-proof.js';
import { generateToken, tokenProblem, tokenStrengthBits } from '../../src/pki/token.js';

/** Node's fingerprint256 format, for identities that need no real certificate here. */
function fakeFingerprint(): string {
  return (createHash('sha256').update(randomBytes(16)).digest('hex').toUpperCase().match(/../g) ?? []).join(':');
}

interface Session {
  serverFp: string;
  clientFp: string;
  serverNonce: string;
  clientNonce: string;
}

function session(): Session {
  return { serverFp: fakeFingerprint(), clientFp: fakeFingerprint(), serverNonce: newNonce(), clientNonce: newNonce() };
}

/** The server's proof input, seen from the server (the prover). */
function serverView(s: Session): HelloProofInput {
  return { role: 'server', ownFingerprint: s.serverFp, peerFingerprint: s.clientFp, ownNonce: s.serverNonce, peerNonce: s.clientNonce };
}
function clientView(s: Session): HelloProofInput {
  return { role: 'client', ownFingerprint: s.clientFp, peerFingerprint: s.serverFp, ownNonce: s.clientNonce, peerNonce: s.serverNonce };
}

const token = generateToken();
const key = deriveHelloKey(token, 'prod');

t.test('key derivation', async (t) => {
  t.equal(key.length, 32);
  t.same(key, deriveHelloKey(token, 'prod'), 'deterministic');
  t.same(await deriveHelloKeyAsync(token, 'prod'), key, 'the thread-pool derivation gives the same key');
  const stretched = scryptSync(token, 'etcd-agent hello stretch v1\0prod', 32, { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  t.same(key, Buffer.from(hkdfSync('sha256', stretched, 'etcd-agent hello v1', 'prod', 32)), 'scrypt then HKDF-SHA256, documented salts and info');
  t.notSame(key, deriveHelloKey(token, 'staging'), 'bound to the cluster name');
  t.notSame(key, deriveHelloKey(generateToken(), 'prod'));
  t.notOk(key.equals(Buffer.from(token).subarray(0, 32)), 'not the raw token');
});

t.test('proofs round-trip in both directions', async (t) => {
  const s = session();
  const serverProof = helloProof(key, serverView(s));
  const clientProof = helloProof(deriveHelloKey(token, 'prod'), clientView(s));
  t.match(serverProof, /^[A-Za-z0-9_-]{43}$/, '32 bytes base64url');
  t.equal(helloProof(key, serverView(s)), serverProof, 'deterministic');
  t.equal(verifyHelloProof(key, serverView(s), serverProof), true, 'client accepts the server');
  t.equal(verifyHelloProof(key, clientView(s), clientProof), true, 'server accepts the client');
});

t.test('proofs fail whenever anything they bind differs', async (t) => {
  const s = session();
  const proof = helloProof(key, serverView(s));
  const other = session();
  const failures: Array<[string, Buffer, HelloProofInput]> = [
    ['different token', deriveHelloKey(generateToken(), 'prod'), serverView(s)],
    ['different cluster name', deriveHelloKey(token, 'staging'), serverView(s)],
    ['relay: client saw a different server certificate', key, { ...serverView(s), ownFingerprint: other.serverFp }],
    ['relay: server saw a different client certificate', key, { ...serverView(s), peerFingerprint: other.clientFp }],
    ['fingerprints swapped', key, { ...serverView(s), ownFingerprint: s.clientFp, peerFingerprint: s.serverFp }],
    ['nonces swapped', key, { ...serverView(s), ownNonce: s.clientNonce, peerNonce: s.serverNonce }],
    ['role swapped', key, { ...serverView(s), role: 'client' }],
    ['reflected: server proof offered as the client proof', key, clientView(s)],
    ['fresh client nonce (replay into a new session)', key, { ...serverView(s), peerNonce: other.clientNonce }],
    ['fresh server nonce', key, { ...serverView(s), ownNonce: other.serverNonce }],
    ['fingerprint in other case', key, { ...serverView(s), ownFingerprint: s.serverFp.toLowerCase() }],
  ];
  for (const [name, k, input] of failures) t.equal(verifyHelloProof(k, input, proof), false, name);

  const replayedSession = { ...other, serverFp: s.serverFp, clientFp: s.clientFp };
  t.equal(verifyHelloProof(key, serverView(replayedSession), proof), false, 'whole proof replayed into a session with new nonces');
  t.equal(verifyHelloProof(key, serverView(s), proof), true, 'the original still verifies (the failures above are real)');
});

t.test('field boundaries are unambiguous', async (t) => {
  const base = serverView(session());
  const a = helloProof(key, { ...base, ownNonce: 'ab', peerNonce: 'c' });
  const b = helloProof(key, { ...base, ownNonce: 'a', peerNonce: 'bc' });
  t.not(a, b);
  const c = helloProof(key, { ...base, ownFingerprint: 'AA:BB', peerFingerprint: 'CC' });
  const d = helloProof(key, { ...base, ownFingerprint: 'AA', peerFingerprint: 'BB:CC' });
  t.not(c, d);
});

t.test('malformed proofs are false, never a throw', async (t) => {
  const input = serverView(session());
  const proof = helloProof(key, input);
  const flippedLast = proof.slice(0, -1) + (proof.endsWith('A') ? 'Q' : 'A');
  const bad: Array<[string, unknown]> = [
    ['truncated', proof.slice(0, 42)],
    ['one byte short', Buffer.from(proof, 'base64url').subarray(0, 31).toString('base64url')],
    ['extended', proof + 'AAAA'],
    ['padded', proof + '='],
    ['standard base64 alphabet', Buffer.from(proof, 'base64url').toString('base64')],
    ['last character changed', flippedLast],
    ['empty', ''],
    ['garbage', 'not a proof at all, definitely not!!!!!!!!!'],
    ['not a string', 42],
  ];
  for (const [name, value] of bad) {
    t.equal(verifyHelloProof(key, input, value as string), false, name);
  }
  t.equal(verifyHelloProof(key, { ...input, peerNonce: '' }, proof), false, 'empty nonce');
});

t.test('nonces', async (t) => {
  const nonces = new Set(Array.from({ length: 200 }, () => newNonce()));
  t.equal(nonces.size, 200);
  for (const n of [...nonces].slice(0, 3)) {
    t.match(n, /^[A-Za-z0-9_-]{43}$/);
    t.equal(Buffer.from(n, 'base64url').length, 32);
  }
});

t.test('generated tokens', async (t) => {
  const tokens = Array.from({ length: 200 }, () => generateToken());
  t.equal(new Set(tokens).size, tokens.length, 'unique');
  for (const tok of tokens.slice(0, 5)) {
    t.match(tok, /^eat1_[A-Za-z0-9_-]{43}$/);
    t.equal(Buffer.from(tok.slice('eat1_'.length), 'base64url').length * 8, 256, 'at least 128 bits');
    t.equal(tokenProblem(tok), undefined);
  }
  const distinctChars = new Set(tokens.join('').slice(0, 4000)).size;
  t.ok(distinctChars > 60, `tokens use the whole base64url alphabet (${distinctChars})`);
});

t.test('tokens people bring', async (t) => {
  // Issue 9.2: a rogue seed can test guesses offline, so weak hand-made tokens are refused (≈128 bits).
  t.equal(tokenProblem('Xk9_2mQ-pL7vR4tZ8wYb3nC'), undefined, '22+ random base64url characters, no prefix needed');
  t.equal(tokenProblem('9f2c71d04be8a3365d1e0fa7c2b94e58'), undefined, '128 random bits in hex');
  t.ok(tokenStrengthBits(generateToken()) >= 256, 'generated tokens count as 256 bits');
  const weak: Array<[string, string]> = [
    ['one repeated character', 'a'.repeat(22)],
    ['a repeated word', 'Password123!Password123!'],
    ['two characters', 'ab'.repeat(20)],
    ['the alphabet', 'abcdefghijklmnopqrstuvwxyz0123'],
    ['a keyboard row, too short for its pool', 'qwertyuiopasdfghjklzxcvb'],
  ];
  for (const [name, value] of weak) {
    t.match(tokenProblem(value), /too weak: about \d+ bits .* at least 120 .*etcd-agent token generate/, `${name}: refused as weak`);
  }
  const refused: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['short', 'secret', /6 characters long; it must be at least 22/],
    ['one short', 'a'.repeat(21), /21 characters long/],
    ['space inside', 'correct horse battery staple', /whitespace/],
    ['trailing newline', `${generateToken()}\n`, /whitespace/],
    ['tab', `${'a'.repeat(22)}\t`, /whitespace/],
    ['non-ASCII', `${'a'.repeat(22)}é`, /printable ASCII/],
    ['huge', 'a'.repeat(5000), /at most 1024/],
  ];
  for (const [name, value, message] of refused) {
    const problem = tokenProblem(value);
    t.match(problem, message, name);
    t.match(problem, /\.$/, `${name}: a sentence`);
    t.match(problem, /etcd-agent token generate|printable ASCII/, `${name}: says what to do`);
  }
});
