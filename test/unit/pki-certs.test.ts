import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import { generateKeyPair } from '../../src/pki/keys.js';
import { nodeSubjectNames, clientSubjectNames } from '../../src/pki/names.js';
import { createCsr, parseCsr } from '../../src/pki/csr.js';
import { createCa, signCsr } from '../../src/pki/ca.js';
import { certificateInfo, keyMatchesCertificate, verifyIssuedBy } from '../../src/pki/cert-info.js';
import { createEphemeralIdentity } from '../../src/pki/ephemeral.js';
import { fingerprintOf } from '../../src/pki/fingerprint.js';
import { tempDir } from '../helpers/fixtures.js';

const OPENSSL = '/usr/bin/openssl';
const timings: Record<string, number> = {};
async function timed<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await fn();
  timings[label] = Math.round(performance.now() - start);
  return result;
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(OPENSSL, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const DAY = 86_400_000;
const dir = tempDir(t, 'ea-pki-');

const ca = await timed('createCa', () => createCa('test', 3650));
const nodeKey = await timed('generateKeyPair', () => generateKeyPair());
const clientKey = await generateKeyPair();
const nodeNames = nodeSubjectNames('node-1', ['10.1.2.3', '2001:DB8:0:0:0:0:0:7']);
const nodeCsrPem = await timed('createCsr', () => createCsr(nodeKey, nodeNames));
const nodeCsr = await timed('parseCsr', () => parseCsr(nodeCsrPem));
const now = new Date();
const nodeCert = await timed('signCsr', () => signCsr(ca, nodeCsr, { profile: 'node', validityMs: 365 * DAY, now }));
const clientCert = signCsr(ca, parseCsr(createCsr(clientKey, clientSubjectNames('node-1'))), { profile: 'client', validityMs: 365 * DAY });

const files = {
  ca: join(dir, 'ca.crt'),
  node: join(dir, 'node.crt'),
  client: join(dir, 'client.crt'),
  csr: join(dir, 'node.csr'),
};
await writeFile(files.ca, ca.certPem);
await writeFile(files.node, nodeCert);
await writeFile(files.client, clientCert);
await writeFile(files.csr, nodeCsrPem);

t.test('openssl accepts the CSR and verifies both leaves against the CA', async (t) => {
  t.match(openssl(['req', '-in', files.csr, '-verify', '-noout']).out, /verif(y|ication) OK/i);
  t.same(openssl(['verify', '-CAfile', files.ca, files.node]), { status: 0, out: `${files.node}: OK\n` });
  t.same(openssl(['verify', '-CAfile', files.ca, files.client]), { status: 0, out: `${files.client}: OK\n` });
  t.equal(openssl(['verify', '-purpose', 'sslserver', '-CAfile', files.ca, files.node]).status, 0, 'node cert serves TLS');
  t.equal(openssl(['verify', '-purpose', 'sslclient', '-CAfile', files.ca, files.node]).status, 0, 'node cert is a TLS client');
  t.equal(openssl(['verify', '-purpose', 'sslclient', '-CAfile', files.ca, files.client]).status, 0);
  t.not(openssl(['verify', '-purpose', 'sslserver', '-CAfile', files.ca, files.client]).status, 0, 'client cert cannot serve');
});

t.test('node certificate: exact SANs, usages, CA:FALSE, key ids', async (t) => {
  const ext = (file: string, name: string): string =>
    execFileSync(OPENSSL, ['x509', '-in', file, '-noout', '-ext', name], { encoding: 'utf8' });
  t.equal(
    ext(files.node, 'subjectAltName'),
    'X509v3 Subject Alternative Name: \n' +
      '    DNS:node-1, DNS:localhost, IP Address:10.1.2.3, IP Address:2001:DB8:0:0:0:0:0:7, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1\n',
  );
  t.equal(ext(files.node, 'extendedKeyUsage'), 'X509v3 Extended Key Usage: \n    TLS Web Server Authentication, TLS Web Client Authentication\n');
  t.equal(ext(files.node, 'basicConstraints'), 'X509v3 Basic Constraints: critical\n    CA:FALSE\n');
  t.equal(ext(files.node, 'keyUsage'), 'X509v3 Key Usage: critical\n    Digital Signature, Key Encipherment\n');
  const caSki = ext(files.ca, 'subjectKeyIdentifier').split('\n')[1]?.trim();
  t.match(caSki, /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  t.match(ext(files.node, 'authorityKeyIdentifier'), caSki ?? 'missing', 'AKI is the CA key id, not the leaf key id');
  t.notMatch(ext(files.node, 'subjectKeyIdentifier'), caSki ?? 'missing');

  const info = certificateInfo(nodeCert);
  t.equal(info.subjectCommonName, 'node-1');
  t.equal(info.issuerCommonName, 'etcd-agent CA test');
  t.same(info.dnsNames, ['node-1', 'localhost']);
  t.same(info.ipAddresses, ['10.1.2.3', '2001:db8::7', '127.0.0.1', '::1']);
  t.same(info.extendedKeyUsage, ['serverAuth', 'clientAuth']);
  t.equal(info.isCa, false);
  t.equal(info.fingerprint256, new X509Certificate(nodeCert).fingerprint256);
  t.equal(fingerprintOf(nodeCert), new X509Certificate(nodeCert).fingerprint256, 'fingerprintOf: the text TLS reports');
  t.match(info.serialNumber, /^[0-7][0-9A-F]{31}$/, '16-byte serial, positive, minimally encoded');
  t.equal(info.notBefore.getTime(), Math.floor((now.getTime() - 5 * 60_000) / 1000) * 1000, 'backdated 5 minutes');
  t.equal(info.notAfter.getTime(), Math.floor((now.getTime() + 365 * 86_400_000) / 1000) * 1000);
});

t.test('client certificate: clientAuth only, no SANs, UTF8 CN', async (t) => {
  const info = certificateInfo(clientCert);
  t.equal(info.subjectCommonName, 'etcdctl@node-1');
  t.same(info.extendedKeyUsage, ['clientAuth']);
  t.same(info.dnsNames, []);
  t.same(info.ipAddresses, []);
  t.equal(info.isCa, false);
  t.equal(new X509Certificate(clientCert).subjectAltName, undefined);
  // PrintableString has no '@'; Go (etcd) refuses such a name, so it must be a UTF8String.
  t.match(openssl(['x509', '-in', files.client, '-noout', '-subject', '-nameopt', 'show_type']).out, 'CN=UTF8STRING:etcdctl@node-1');
  t.not(certificateInfo(nodeCert).serialNumber, info.serialNumber, 'serials differ');
});

t.test('the CA is a critical CA:TRUE, pathlen 0, cert-signing CA', async (t) => {
  const text = openssl(['x509', '-in', files.ca, '-noout', '-text']).out;
  t.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  t.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  t.match(text, /X509v3 Subject Key Identifier/);
  const info = certificateInfo(ca.certPem);
  t.equal(info.isCa, true);
  t.equal(info.subjectCommonName, 'etcd-agent CA test');
  t.equal(info.issuerCommonName, 'etcd-agent CA test');
  t.ok(Math.abs(info.notAfter.getTime() - Date.now() - 3650 * 86_400_000) < 60_000);
  t.ok(verifyIssuedBy(ca.certPem, ca.certPem), 'self-signed');
});

t.test('keys, issuers and fingerprints', async (t) => {
  t.equal(keyMatchesCertificate(nodeKey.privateKeyPem, nodeCert), true);
  t.equal(keyMatchesCertificate(clientKey.privateKeyPem, nodeCert), false);
  t.equal(keyMatchesCertificate(ca.keyPem, ca.certPem), true);
  t.equal(keyMatchesCertificate('not a key', nodeCert), false);
  t.equal(keyMatchesCertificate(nodeKey.privateKeyPem, 'not a cert'), false);
  t.equal(nodeCsr.publicKeyPem, nodeKey.publicKeyPem, 'CSR key round-trips to the same SPKI PEM');

  const other = await createCa('other', 2);
  t.equal(verifyIssuedBy(nodeCert, ca.certPem), true);
  t.equal(verifyIssuedBy(nodeCert, other.certPem), false);
  t.equal(verifyIssuedBy(nodeCert, nodeCert), false, 'a leaf is not an issuer');
  t.equal(verifyIssuedBy('garbage', ca.certPem), false);

  // The other CA expires in 2 days, so a 365-day leaf is cut back to the CA's end.
  const clamped = certificateInfo(signCsr(other, nodeCsr, { profile: 'node', validityMs: 365 * DAY }));
  t.equal(clamped.notAfter.getTime(), certificateInfo(other.certPem).notAfter.getTime());

  t.throws(() => signCsr({ certPem: ca.certPem, keyPem: other.keyPem }, nodeCsr, { profile: 'node', validityMs: DAY }), {
    code: 'EA_PKI_CA_INVALID',
  });
  t.throws(() => signCsr({ certPem: nodeCert, keyPem: nodeKey.privateKeyPem }, nodeCsr, { profile: 'node', validityMs: DAY }), {
    code: 'EA_PKI_CA_INVALID',
  });
  t.throws(() => signCsr(ca, nodeCsr, { profile: 'node', validityMs: 0 }), { code: 'EA_PKI_SIGNING_OPTIONS' });
  t.throws(() => certificateInfo('garbage'), { code: 'EA_PKI_CERT_INVALID' });
});

t.test('signCsr ignores extensions the CSR asks for', async (t) => {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(nodeKey.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: 'node-1' }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, critical: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'node-1' }, { type: 7, ip: '10.1.2.3' }] },
      ],
    },
  ]);
  csr.sign(forge.pki.privateKeyFromPem(nodeKey.privateKeyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  const parsed = parseCsr(forge.pki.certificationRequestToPem(csr));
  t.equal(parsed.requestsCa, true);
  const pem = signCsr(ca, parsed, { profile: 'node', validityMs: 30 * DAY });
  const info = certificateInfo(pem);
  t.equal(info.isCa, false);
  t.same(info.ipAddresses, ['10.1.2.3']);
  t.notMatch(openssl(['x509', '-noout', '-text'].concat(['-in', await writeTemp('smuggle.crt', pem)])).out, /Certificate Sign/);
});

t.test('ephemeral identities work as TLS server and client certificates', async (t) => {
  const [server, client] = await Promise.all([createEphemeralIdentity('agent-a'), createEphemeralIdentity('agent-b')]);
  t.equal(server.fingerprint256, new X509Certificate(server.certPem).fingerprint256);
  t.not(server.fingerprint256, client.fingerprint256);
  t.same(certificateInfo(server.certPem).extendedKeyUsage, ['serverAuth', 'clientAuth']);
  t.equal(keyMatchesCertificate(server.keyPem, server.certPem), true);
  const days = (certificateInfo(server.certPem).notAfter.getTime() - Date.now()) / 86_400_000;
  t.ok(days > 29.9 && days <= 30, `valid for 30 days (${days.toFixed(3)})`);

  let serverSawClient: string | undefined;
  const tlsServer = tls.createServer(
    { key: server.keyPem, cert: server.certPem, requestCert: true, rejectUnauthorized: false },
    (socket) => {
      serverSawClient = socket.getPeerCertificate().fingerprint256;
      socket.end('hello');
    },
  );
  const sockets: tls.TLSSocket[] = [];
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const { port } = tlsServer.address() as AddressInfo;

  const { clientSawServer, data } = await withTimeout(
    5000,
    new Promise<{ clientSawServer: string; data: string }>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.certPem, rejectUnauthorized: false });
      sockets.push(socket);
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('error', reject);
      socket.on('end', () => resolve({ clientSawServer: socket.getPeerCertificate().fingerprint256, data }));
    }),
  );
  t.equal(data, 'hello');
  t.equal(clientSawServer, server.fingerprint256, 'client sees the server identity');
  t.equal(serverSawClient, client.fingerprint256, 'server sees the client identity');
});

t.test('timings', async (t) => {
  t.comment(`ms: ${JSON.stringify(timings)}`);
  t.ok(true);
});

async function writeTemp(name: string, content: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

function withTimeout<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
