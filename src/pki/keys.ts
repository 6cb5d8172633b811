import { generateKeyPair as nodeGenerateKeyPair } from 'node:crypto';

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

/**
 * Key pairs made ahead of need (prepareKeyPairs), handed out first. A fresh
 * node needs three on its way to a formed cluster: its server key at start
 * (made then: it is the node's identity on the peer API), then the client key
 * at enrollment and the CA key if it holds the CA role. Those two are made
 * while it discovers and agrees (started once its APIs listen, so they do not
 * compete on two cores with the hello key's scrypt and the server key's
 * generation on the way there), so they are ready when enrollment asks,
 * instead of 0.1–0.5 s each on the formation's critical path. Held in memory
 * only, like every key the agent uses; dropped once the node is formed.
 */
const spares: Promise<KeyPairPem>[] = [];

/** Starts making key pairs in the background until `count` are spare. */
export function prepareKeyPairs(count: number): void {
  while (spares.length < count) {
    const pair = makeKeyPair();
    // Whoever takes this pair sees a failure; until then it is not unhandled.
    pair.catch(() => undefined);
    spares.push(pair);
  }
}

/** Forgets the spare key pairs (the node is formed: it will not need them). */
export function discardSpareKeyPairs(): void {
  spares.length = 0;
}

/** How many spare key pairs are waiting (made or being made). */
export function spareKeyPairCount(): number {
  return spares.length;
}

/** A new key pair: a spare one if prepared, else made now. */
export function generateKeyPair(): Promise<KeyPairPem> {
  return spares.shift() ?? makeKeyPair();
}

/**
 * RSA 2048 via native crypto: node-forge's pure-JS keygen takes seconds,
 * native takes ~0.1–0.3 s and does not block the event loop.
 */
function makeKeyPair(): Promise<KeyPairPem> {
  return new Promise((resolve, reject) => {
    nodeGenerateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        publicExponent: 0x10001,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (err, publicKeyPem, privateKeyPem) => {
        if (err) reject(err);
        else resolve({ privateKeyPem, publicKeyPem });
      },
    );
  });
}
