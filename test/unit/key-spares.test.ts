import t, { type Test } from 'tap';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { discardSpareKeyPairs, generateKeyPair, prepareKeyPairs, spareKeyPairCount, type KeyPairPem } from '../../src/pki/keys.js';

function checkPair(t: Test, pair: KeyPairPem): void {
  const pub = createPublicKey(createPrivateKey(pair.privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString();
  t.equal(pub, pair.publicKeyPem, 'the public key belongs to the private key');
  t.equal(createPrivateKey(pair.privateKeyPem).asymmetricKeyDetails?.modulusLength, 2048, 'RSA 2048');
}

t.test('spare key pairs are made ahead, handed out once each, then made on demand', async (t) => {
  discardSpareKeyPairs();
  prepareKeyPairs(2);
  t.equal(spareKeyPairCount(), 2);
  prepareKeyPairs(2);
  t.equal(spareKeyPairCount(), 2, 'preparing again tops up, never past the count');
  const a = await generateKeyPair();
  t.equal(spareKeyPairCount(), 1, 'the first request took a spare');
  const b = await generateKeyPair();
  t.equal(spareKeyPairCount(), 0);
  const c = await generateKeyPair();
  t.equal(spareKeyPairCount(), 0, 'without spares a pair is made on demand');
  for (const pair of [a, b, c]) checkPair(t, pair);
  t.equal(new Set([a.privateKeyPem, b.privateKeyPem, c.privateKeyPem]).size, 3, 'no key pair is handed out twice');
});

t.test('discarded spares are never handed out', async (t) => {
  prepareKeyPairs(1);
  t.equal(spareKeyPairCount(), 1);
  discardSpareKeyPairs();
  t.equal(spareKeyPairCount(), 0);
  checkPair(t, await generateKeyPair());
  t.equal(spareKeyPairCount(), 0);
});
