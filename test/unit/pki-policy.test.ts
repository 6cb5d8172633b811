import t from 'tap';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { generateKeyPair, type KeyPairPem } from '../../src/pki/keys.js';
import { nodeSubjectNames, clientSubjectNames, type SubjectNames } from '../../src/pki/names.js';
import { createCsr, parseCsr, type ParsedCsr } from '../../src/pki/csr.js';
import { checkCsrPolicy, type IdentityClaim } from '../../src/pki/policy.js';
import type { CertProfile } from '../../src/pki/ca.js';

const key = await generateKeyPair();
const who: IdentityClaim = { name: 'node-1', addresses: ['10.0.0.1', '2001:db8::1'] };

/** Builds a CSR with forge directly, to ask for things createCsr never would. */
function rawCsr(
  k: KeyPairPem,
  cn: string,
  extensions: object[],
  md: forge.md.MessageDigest = forge.md.sha256.create(),
): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(k.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: cn }]);
  if (extensions.length > 0) csr.setAttributes([{ name: 'extensionRequest', extensions }]);
  csr.sign(forge.pki.privateKeyFromPem(k.privateKeyPem) as forge.pki.rsa.PrivateKey, md);
  return forge.pki.certificationRequestToPem(csr);
}

const san = (...altNames: object[]): object => ({ name: 'subjectAltName', altNames });
const dns = (value: string): object => ({ type: 2, value });
const ip = (bytes: number[]): object => ({ type: 7, value: Buffer.from(bytes).toString('binary') });
const V4_OWN = [10, 0, 0, 1];
const V6_LOOPBACK = [...new Array<number>(15).fill(0), 1];

const fromNames = (names: SubjectNames): ParsedCsr => parseCsr(createCsr(key, names));

t.test('names', async (t) => {
  t.same(nodeSubjectNames('node-1', ['10.0.0.1', '0:0:0:0:0:0:0:1', '2001:DB8::1', '10.0.0.1']), {
    commonName: 'node-1',
    dnsNames: ['node-1', 'localhost'],
    ipAddresses: ['10.0.0.1', '::1', '2001:db8::1', '127.0.0.1'],
  });
  t.same(nodeSubjectNames('localhost', []).dnsNames, ['localhost'], 'deduped');
  t.same(clientSubjectNames('node-1'), { commonName: 'etcdctl@node-1', dnsNames: [], ipAddresses: [] });
  for (const bad of ['node-1.example', '10.0.0.256', '010.0.0.1', 'fe80::1%eth0', '10.0.0.0/8', '']) {
    t.throws(() => nodeSubjectNames('node-1', [bad]), { code: 'EA_PKI_ADDRESS_INVALID' }, `address ${JSON.stringify(bad)}`);
  }
  t.throws(() => nodeSubjectNames('node 1', []), { code: 'EA_PKI_NAME_INVALID' });
  t.throws(() => clientSubjectNames(''), { code: 'EA_PKI_NAME_INVALID' });
});

t.test('parseCsr reports what the CSR asks for, IPs canonical', async (t) => {
  const parsed = parseCsr(
    rawCsr(key, 'node-1', [
      { name: 'basicConstraints', cA: true, critical: true },
      san(dns('node-1'), ip(V4_OWN), ip(V6_LOOPBACK), { type: 1, value: 'root@node-1' }, { type: 6, value: 'spiffe://x/y' }),
    ]),
  );
  t.equal(parsed.commonName, 'node-1');
  t.same(parsed.dnsNames, ['node-1']);
  t.same(parsed.ipAddresses, ['10.0.0.1', '::1']);
  t.equal(parsed.requestsCa, true);
  t.same(parsed.otherSanTypes, ['email', 'uri']);
  t.same(parsed.requestedExtensions, ['basicConstraints', 'subjectAltName']);
  t.match(parsed.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n[^\r]+-----END PUBLIC KEY-----\n$/);
  t.notMatch(createCsr(key, clientSubjectNames('n')), /\r/, 'PEM uses LF');
});

interface PolicyCase {
  name: string;
  csr: () => ParsedCsr;
  profile: CertProfile;
  claim?: IdentityClaim;
  /** undefined: accepted; otherwise the message must match. */
  rejected?: RegExp;
}

const cases: PolicyCase[] = [
  { name: 'good node CSR', profile: 'node', csr: () => fromNames(nodeSubjectNames('node-1', ['10.0.0.1', '2001:db8::1'])) },
  { name: 'node CSR with one of its addresses', profile: 'node', csr: () => fromNames(nodeSubjectNames('node-1', ['2001:db8::1'])) },
  {
    name: 'addresses compared canonically',
    profile: 'node',
    claim: { name: 'node-1', addresses: ['2001:DB8:0:0:0:0:0:1'] },
    csr: () => fromNames(nodeSubjectNames('node-1', ['2001:db8::1'])),
  },
  { name: 'DNS names compared case-insensitively', profile: 'node', csr: () => parseCsr(rawCsr(key, 'node-1', [san(dns('NODE-1'), ip(V4_OWN))])) },
  { name: 'good client CSR', profile: 'client', csr: () => fromNames(clientSubjectNames('node-1')) },
  {
    name: 'foreign DNS SAN',
    profile: 'node',
    csr: () => fromNames({ ...nodeSubjectNames('node-1', ['10.0.0.1']), dnsNames: ['node-1', 'etcd.example.com'] }),
    rejected: /DNS name "etcd\.example\.com"/,
  },
  {
    name: 'foreign IP SAN',
    profile: 'node',
    csr: () => fromNames(nodeSubjectNames('node-1', ['10.0.0.1', '10.0.0.99'])),
    rejected: /IP address "10\.0\.0\.99".*\(10\.0\.0\.1, 2001:db8::1\)/,
  },
  {
    name: 'foreign IPv6 SAN',
    profile: 'node',
    csr: () => fromNames(nodeSubjectNames('node-1', ['10.0.0.1', 'fe80::1'])),
    rejected: /IP address "fe80::1"/,
  },
  {
    name: 'wrong CN',
    profile: 'node',
    csr: () => fromNames({ ...nodeSubjectNames('node-1', ['10.0.0.1']), commonName: 'node-2' }),
    rejected: /common name "node-2" is not the requester's name "node-1"/,
  },
  {
    name: 'client CN on a node CSR',
    profile: 'node',
    csr: () => fromNames({ ...nodeSubjectNames('node-1', ['10.0.0.1']), commonName: 'etcdctl@node-1' }),
    rejected: /common name "etcdctl@node-1"/,
  },
  {
    name: 'CSR requesting CA:true',
    profile: 'node',
    csr: () => parseCsr(rawCsr(key, 'node-1', [{ name: 'basicConstraints', cA: true, critical: true }, san(dns('node-1'), ip(V4_OWN))])),
    rejected: /CA:true/,
  },
  {
    name: 'client CSR requesting CA:true',
    profile: 'client',
    csr: () => parseCsr(rawCsr(key, 'etcdctl@node-1', [{ name: 'basicConstraints', cA: true }])),
    rejected: /CA:true/,
  },
  {
    name: 'email SAN',
    profile: 'node',
    csr: () => parseCsr(rawCsr(key, 'node-1', [san(dns('node-1'), ip(V4_OWN), { type: 1, value: 'admin@node-1' })])),
    rejected: /type email/,
  },
  {
    name: 'URI SAN',
    profile: 'node',
    csr: () => parseCsr(rawCsr(key, 'node-1', [san(ip(V4_OWN), { type: 6, value: 'spiffe://cluster/admin' })])),
    rejected: /type uri/,
  },
  {
    name: 'missing own IP',
    profile: 'node',
    csr: () => fromNames(nodeSubjectNames('node-1', [])),
    rejected: /none of the requester's addresses \(10\.0\.0\.1, 2001:db8::1\)/,
  },
  {
    name: 'no SANs at all',
    profile: 'node',
    csr: () => parseCsr(rawCsr(key, 'node-1', [])),
    rejected: /none of the requester's addresses/,
  },
  {
    name: 'client CSR with a DNS SAN',
    profile: 'client',
    csr: () => fromNames({ ...clientSubjectNames('node-1'), dnsNames: ['node-1'] }),
    rejected: /DNS name "node-1"/,
  },
  {
    name: 'client CSR with an IP SAN',
    profile: 'client',
    csr: () => fromNames({ ...clientSubjectNames('node-1'), ipAddresses: ['10.0.0.1'] }),
    rejected: /IP address "10\.0\.0\.1"/,
  },
  {
    name: 'client CSR with a URI SAN',
    profile: 'client',
    csr: () => parseCsr(rawCsr(key, 'etcdctl@node-1', [san({ type: 6, value: 'https://x' })])),
    rejected: /a uri name/,
  },
  {
    name: 'client CSR with wrong CN',
    profile: 'client',
    csr: () => fromNames(clientSubjectNames('node-2')),
    rejected: /common name "etcdctl@node-2" is not "etcdctl@node-1"/,
  },
  {
    name: 'node CSR under the client profile',
    profile: 'client',
    csr: () => fromNames(nodeSubjectNames('node-1', ['10.0.0.1'])),
    rejected: /common name "node-1"/,
  },
];

t.test('signing policy', async (t) => {
  for (const c of cases) {
    const csr = c.csr();
    const check = (): void => checkCsrPolicy(csr, c.claim ?? who, c.profile);
    if (c.rejected === undefined) t.doesNotThrow(check, c.name);
    else t.throws(check, { code: 'EA_PKI_CSR_REJECTED', message: c.rejected }, c.name);
  }
});

t.test('unusable CSRs are EA_PKI_CSR_INVALID', async (t) => {
  const good = createCsr(key, nodeSubjectNames('node-1', ['10.0.0.1']));
  const der = Buffer.from(forge.pem.decode(good)[0]?.body ?? '', 'binary');
  const toPem = (bytes: Buffer): string =>
    forge.pem.encode({ type: 'CERTIFICATE REQUEST', body: bytes.toString('binary') });
  const flipped = (offset: number): string => {
    const copy = Buffer.from(der);
    copy[offset] = (copy[offset] ?? 0) ^ 0x01;
    return toPem(copy);
  };
  const cnOffset = der.indexOf(Buffer.from('node-1'));
  const small = generateKeyPairSync('rsa', {
    modulusLength: 1024,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const ecCsr = execFileSync(
    '/usr/bin/openssl',
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=node-1'],
    { encoding: 'utf8' },
  );

  const invalid: Array<[string, string, RegExp]> = [
    ['empty string', '', /no PEM block/],
    ['garbage', 'hello, I am a certificate request', /no PEM block/],
    ['garbage inside PEM armor', toPem(Buffer.from('not asn.1 at all')), /not a valid PKCS#10/],
    ['a certificate instead of a CSR', good.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE'), /"CERTIFICATE", not "CERTIFICATE REQUEST"/],
    ['oversized', good + '#'.repeat(17 * 1024), /more than the 16384 allowed/],
    ['two CSRs', good + good, /2 PEM blocks/],
    ['tampered signature', flipped(der.length - 1), /signature does not verify/],
    ['tampered common name', flipped(cnOffset), /signature does not verify/],
    ['trailing bytes', toPem(Buffer.concat([der, Buffer.from([0])])), /not a valid PKCS#10/],
    ['1024-bit key', rawCsr({ privateKeyPem: small.privateKey, publicKeyPem: small.publicKey }, 'node-1', []), /1024 bits, fewer than 2048/],
    ['EC key', ecCsr, /not RSA/],
    ['SHA-1 signature', rawCsr(key, 'node-1', [], forge.md.sha1.create()), /1\.2\.840\.113549\.1\.1\.5/],
    ['two SAN extensions', rawCsr(key, 'node-1', [san(ip(V4_OWN)), san(dns('evil'))]), /subjectAltName twice/],
    ['IP SAN of 5 bytes', rawCsr(key, 'node-1', [san(ip([10, 0, 0, 1, 5]))]), /not 4 or 16 bytes/],
    ['DNS SAN with a space', rawCsr(key, 'node-1', [san(dns('node 1'))]), /DNS name that is empty or not printable/],
  ];
  t.not(cnOffset, -1);
  t.doesNotThrow(() => parseCsr(good), 'the untampered CSR parses');
  for (const [name, pem, message] of invalid) {
    t.throws(() => parseCsr(pem), { code: 'EA_PKI_CSR_INVALID', message }, name);
  }
  t.throws(() => parseCsr(123 as unknown as string), { code: 'EA_PKI_CSR_INVALID' }, 'not a string');
});

t.test('consumer client certificates: a safe name, CN = that name, no SANs, no CA', async (t) => {
  const { consumerSubjectNames, consumerNameProblem } = await import('../../src/pki/names.js');
  const { checkClientCsr } = await import('../../src/pki/policy.js');
  t.same(consumerSubjectNames('kube-apiserver-etcd-client'), { commonName: 'kube-apiserver-etcd-client', dnsNames: [], ipAddresses: [] });
  for (const good of ['app1', 'A', 'patroni_1', 'svc.prod-2', '9lives', 'x'.repeat(64)]) t.equal(consumerNameProblem(good), undefined, `"${good}" is fine`);
  for (const bad of ['', '.', '..', '../x', '-rf', '_x', 'a b', 'a/b', 'etcdctl@n1', 'x'.repeat(65), 'caf\u00e9', 'a\nb']) {
    t.ok(consumerNameProblem(bad), `${JSON.stringify(bad)} is refused`);
  }
  t.throws(() => consumerSubjectNames('../x'), { code: 'EA_PKI_NAME_INVALID' });

  t.doesNotThrow(() => checkClientCsr(fromNames(consumerSubjectNames('app1')), 'app1'));
  t.throws(() => checkClientCsr(fromNames(consumerSubjectNames('app2')), 'app1'), { code: 'EA_PKI_CSR_REJECTED', message: /"app2" is not "app1"/ });
  t.throws(() => checkClientCsr(parseCsr(rawCsr(key, 'app1', [san(dns('app1'))])), 'app1'), { code: 'EA_PKI_CSR_REJECTED', message: /DNS name "app1"/ });
  t.throws(() => checkClientCsr(parseCsr(rawCsr(key, 'app1', [san(ip(V4_OWN))])), 'app1'), { code: 'EA_PKI_CSR_REJECTED', message: /IP address "10\.0\.0\.1"/ });
  t.throws(() => checkClientCsr(parseCsr(rawCsr(key, 'app1', [{ name: 'basicConstraints', cA: true }])), 'app1'), { code: 'EA_PKI_CSR_REJECTED', message: /CA/ });
});
