import t from 'tap';
import { createCa, generateToken } from '../../src/pki/index.js';
import {
  ESCROW_VERSION,
  escrowRecord,
  openCaKey,
  openEscrowRecord,
  parseEscrowRecord,
  sealCaKey,
  trustedBy,
} from '../../src/pki/escrow.js';

const token = generateToken();

t.test('escrow of the CA key', async (t) => {
  const ca = await createCa('prod', 30);
  const other = await createCa('prod', 30);
  const sealed = sealCaKey(ca, token, 'prod');

  const refused = (code: 'EA_CA_ESCROW_SEALED' | 'EA_CA_ESCROW_UNREADABLE', pattern: RegExp, fn: () => unknown): void => {
    t.throws(fn, { code, message: pattern }, `${code}: ${pattern}`);
  };

  t.test('round trip with the right token', async (t) => {
    t.equal(sealed[0], ESCROW_VERSION, 'starts with the version byte');
    t.equal(openCaKey(sealed, ca.certPem, token, 'prod'), ca.keyPem, 'opens to the same key');
    t.not(sealCaKey(ca, token, 'prod').toString('hex'), sealed.toString('hex'), 'fresh salt and nonce every time');
  });

  t.test('the blob is not the key', async (t) => {
    const text = sealed.toString('latin1');
    t.notMatch(text, /PRIVATE KEY/, 'no PEM armour');
    const body = ca.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of body.slice(0, 5)) t.notOk(sealed.toString('base64').includes(line), 'no line of the key in base64');
    t.notOk(text.includes(Buffer.from(ca.keyPem).subarray(40, 80).toString('latin1')), 'no run of the key bytes');
  });

  t.test('a wrong token, cluster or certificate is refused', async (t) => {
    refused('EA_CA_ESCROW_SEALED', /does not open with this node's join token/, () => openCaKey(sealed, ca.certPem, generateToken(), 'prod'));
    refused('EA_CA_ESCROW_SEALED', /does not open/, () => openCaKey(sealed, ca.certPem, token, 'staging'));
    refused('EA_CA_ESCROW_SEALED', /does not open/, () => openCaKey(sealed, other.certPem, token, 'prod'));
  });

  t.test('tampered bytes are refused, wherever they are', async (t) => {
    for (const at of [1, 17, 29, Math.floor(sealed.length / 2), sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      refused('EA_CA_ESCROW_SEALED', /does not open/, () => openCaKey(bad, ca.certPem, token, 'prod'));
    }
  });

  t.test('a wrong version, a truncated or an empty blob are refused and say so', async (t) => {
    const v2 = Buffer.from(sealed);
    v2[0] = 2;
    refused('EA_CA_ESCROW_UNREADABLE', /format version 2.*reads version 1 only/, () => openCaKey(v2, ca.certPem, token, 'prod'));
    refused('EA_CA_ESCROW_UNREADABLE', /truncated \(40 bytes/, () => openCaKey(sealed.subarray(0, 40), ca.certPem, token, 'prod'));
    refused('EA_CA_ESCROW_SEALED', /does not open/, () => openCaKey(sealed.subarray(0, sealed.length - 1), ca.certPem, token, 'prod'));
    refused('EA_CA_ESCROW_UNREADABLE', /empty/, () => openCaKey(Buffer.alloc(0), ca.certPem, token, 'prod'));
    refused('EA_CA_ESCROW_UNREADABLE', /more than a sealed CA key/, () => openCaKey(Buffer.concat([sealed, Buffer.alloc(20_000)]), ca.certPem, token, 'prod'));
  });

  t.test('sealing refuses a key that is not the certificate\'s', async (t) => {
    refused('EA_CA_ESCROW_UNREADABLE', /not the key of the CA certificate/, () => sealCaKey({ certPem: ca.certPem, keyPem: other.keyPem }, token, 'prod'));
  });

  t.test('the stored record', async (t) => {
    const record = escrowRecord(ca, token, 'prod', 'a'.repeat(32));
    const text = JSON.stringify(record);
    t.notMatch(text, /PRIVATE KEY/);
    t.same(openEscrowRecord(parseEscrowRecord(text), token, 'prod'), ca, 'opens to the CA');
    refused('EA_CA_ESCROW_SEALED', /does not open/, () => openEscrowRecord({ ...record, caCertificate: other.certPem }, token, 'prod'));
    refused('EA_CA_ESCROW_UNREADABLE', /not JSON/, () => parseEscrowRecord('{"caCert'));
    refused('EA_CA_ESCROW_UNREADABLE', /not a JSON object/, () => parseEscrowRecord('[1]'));
    refused('EA_CA_ESCROW_UNREADABLE', /"sealedKey" is missing/, () => parseEscrowRecord(JSON.stringify({ ...record, sealedKey: 5 })));
    refused('EA_CA_ESCROW_UNREADABLE', /not base64/, () => parseEscrowRecord(JSON.stringify({ ...record, sealedKey: 'a b' })));
    refused('EA_CA_ESCROW_UNREADABLE', /not a readable PEM certificate/, () => openEscrowRecord({ ...record, caCertificate: 'junk' }, token, 'prod'));
  });

  t.test('trusted only when in this node\'s ca.crt', async (t) => {
    t.ok(trustedBy(ca.certPem, ca.certPem), 'the same certificate');
    t.ok(trustedBy(ca.certPem, `${other.certPem}${ca.certPem}`), 'one of a bundle (CA rotation)');
    t.notOk(trustedBy(ca.certPem, other.certPem), 'another CA');
    t.notOk(trustedBy('junk', ca.certPem), 'not a certificate');
    t.notOk(trustedBy(ca.certPem, ''), 'nothing trusted');
  });
});
