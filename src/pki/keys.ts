import { generateKeyPair as nodeGenerateKeyPair } from 'node:crypto';

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

/**
 * RSA 2048 via native crypto: node-forge's pure-JS keygen takes seconds,
 * native takes ~0.1–0.3 s and does not block the event loop.
 */
export function generateKeyPair(): Promise<KeyPairPem> {
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
