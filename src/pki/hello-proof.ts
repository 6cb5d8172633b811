import { createHmac, hkdfSync, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

export type HelloRole = 'server' | 'client';

/**
 * Everything one side's proof commits to, from the prover's point of view:
 * its own certificate fingerprint and nonce first, the peer's second.
 */
export interface HelloProofInput {
  role: HelloRole;
  ownFingerprint: string;
  peerFingerprint: string;
  ownNonce: string;
  peerNonce: string;
}

const HKDF_SALT = 'etcd-agent hello v1';
const STRETCH_SALT = 'etcd-agent hello stretch v1';
/** scrypt cost: ≈16 MiB and 50–150 ms once per start here; the same for every guess an attacker tries offline. */
export const HELLO_SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const PROOF_LABEL = 'etcd-agent hello proof v1';
const PROOF_BYTES = 32;

/**
 * The token itself never keys anything: scrypt (salted with the cluster name)
 * makes every offline guess of the token cost what this one derivation costs,
 * and HKDF gives a key bound to the cluster name, so the same token reused for
 * two clusters yields unrelated proofs. docs/protocol.md explains why guesses
 * matter: whoever receives a client's proof can test guesses against it.
 */
export function deriveHelloKey(token: string, clusterName: string): Buffer {
  return helloKeyFrom(scryptSync(token, `${STRETCH_SALT}\0${clusterName}`, 32, HELLO_SCRYPT), clusterName);
}

/**
 * The same key as deriveHelloKey, with scrypt in the thread pool: the agent
 * starts it first thing, so its 50–150 ms overlap the rest of start-up
 * instead of blocking the way to listen().
 */
export function deriveHelloKeyAsync(token: string, clusterName: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(token, `${STRETCH_SALT}\0${clusterName}`, 32, HELLO_SCRYPT, (err, stretched) => {
      if (err) reject(err);
      else resolve(helloKeyFrom(stretched, clusterName));
    });
  });
}

function helloKeyFrom(stretched: Buffer, clusterName: string): Buffer {
  return Buffer.from(hkdfSync('sha256', stretched, HKDF_SALT, clusterName, 32));
}

export function newNonce(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * HMAC over length-prefixed fields. Binding both fingerprints defeats a relay
 * (it would have to present the same certificates, whose keys it lacks);
 * both nonces make the proof single-use; the role stops a server proof being
 * echoed back as a client proof.
 */
export function helloProof(key: Buffer, input: HelloProofInput): string {
  const mac = createHmac('sha256', key);
  for (const field of [PROOF_LABEL, input.role, input.ownFingerprint, input.peerFingerprint, input.ownNonce, input.peerNonce]) {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    mac.update(length);
    mac.update(bytes);
  }
  return mac.digest('base64url');
}

/** Checks a peer's proof; `input` is from the peer's (the prover's) point of view. Never throws. */
export function verifyHelloProof(key: Buffer, input: HelloProofInput, proof: string): boolean {
  if (typeof proof !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(proof)) return false;
  if (input.role !== 'server' && input.role !== 'client') return false;
  const fields = [input.ownFingerprint, input.peerFingerprint, input.ownNonce, input.peerNonce];
  if (fields.some((f) => typeof f !== 'string' || f.length === 0)) return false;
  const given = Buffer.from(proof, 'base64url');
  const expected = Buffer.from(helloProof(key, input), 'base64url');
  return given.length === PROOF_BYTES && timingSafeEqual(given, expected);
}
