import t from 'tap';
import { X509Certificate, createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import { generateKeyPair } from '../../src/pki/keys.js';
import { asForgeKey, nativeSigner } from '../../src/pki/forge-util.js';
import { createEphemeralIdentity } from '../../src/pki/ephemeral.js';

t.test('the native signer gives the same RSASSA-PKCS1-v1_5 bytes as forge', async (t) => {
  const key = await generateKeyPair();
  const forgeKey = forge.pki.privateKeyFromPem(key.privateKeyPem) as forge.pki.rsa.PrivateKey;
  for (const message of ['', 'abc', 'x'.repeat(10_000)]) {
    const a = forge.md.sha256.create();
    a.update(message);
    const b = forge.md.sha256.create();
    b.update(message);
    t.equal(Buffer.from(nativeSigner(key.privateKeyPem).sign(b), 'binary').toString('hex'), Buffer.from(forgeKey.sign(a), 'binary').toString('hex'), `message of ${message.length} bytes`);
  }
});

t.test('a certificate signed through forge with the native signer verifies', async (t) => {
  const key = await generateKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(key.publicKeyPem);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 60_000);
  cert.setSubject([{ name: 'commonName', value: 'native-signer' }]);
  cert.setIssuer([{ name: 'commonName', value: 'native-signer' }]);
  cert.sign(asForgeKey(nativeSigner(key.privateKeyPem)), forge.md.sha256.create());
  const x509 = new X509Certificate(forge.pki.certificateToPem(cert));
  t.ok(x509.verify(createPublicKey(key.publicKeyPem)), 'node verifies the signature');
  t.ok(forge.pki.certificateFromPem(forge.pki.certificateToPem(cert)).verify(cert), 'forge verifies it too');
  const identity = await createEphemeralIdentity('n1', key.privateKeyPem);
  t.ok(new X509Certificate(identity.certPem).verify(createPublicKey(key.publicKeyPem)), 'the ephemeral identity is signed by its key');
});

t.test('the native signer refuses digests other than SHA-256', async (t) => {
  const key = await generateKeyPair();
  const md = forge.md.sha1.create();
  md.update('abc');
  t.throws(() => nativeSigner(key.privateKeyPem).sign(md), /SHA-256 digests only/);
});
