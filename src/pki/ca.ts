import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { generateKeyPair } from './keys.js';
import type { ParsedCsr } from './csr.js';
import { ipToBytes } from './ip.js';
import {
  DAY_MS,
  commonNameAttribute,
  asForgeKey,
  nativeSigner,
  type ForgeSigner,
  forgePublicKey,
  normalizePem,
  randomSerialHex,
  validityWindow,
} from './forge-util.js';
import { AddressInvalidError, CaInvalidError, SigningOptionsError } from './errors.js';

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** node: etcd serving + peer certificate; client: the local etcdctl identity. */
export type CertProfile = 'node' | 'client';

export interface SignOptions {
  profile: CertProfile;
  /** Leaf lifetime from the moment of signing (pki.certValidity, or what `cert issue` asked for). */
  validityMs: number;
  now?: Date;
}

export async function createCa(clusterName: string, validityDays: number): Promise<CertificateAuthority> {
  checkValidity('validityDays', validityDays);
  const key = await generateKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(key.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  Object.assign(cert.validity, validityWindow(new Date(), validityDays * DAY_MS));
  const name = [commonNameAttribute(`etcd-agent CA ${clusterName}`)];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    // pathLen 0: this CA signs leaves only, never another CA.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(asForgeKey(nativeSigner(key.privateKeyPem)), forge.md.sha256.create());
  return { certPem: normalizePem(forge.pki.certificateToPem(cert)), keyPem: key.privateKeyPem };
}

/**
 * Issues a certificate for an already policy-checked CSR. Only the subject
 * CN, the SANs and the public key are taken from the request; every
 * extension is ours, so a CSR cannot smuggle in CA:true or extra usages.
 */
export function signCsr(ca: CertificateAuthority, csr: ParsedCsr, options: SignOptions): string {
  checkValidity('validityMs', options.validityMs);
  if (options.profile !== 'node' && options.profile !== 'client') {
    throw SigningOptionsError(`unknown profile "${String(options.profile)}"`);
  }
  const { caCert, caKey } = loadCa(ca);

  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(csr.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  const window = validityWindow(options.now ?? new Date(), options.validityMs);
  // A leaf that outlives its CA would only fail later and more confusingly.
  if (window.notAfter > caCert.validity.notAfter) window.notAfter = caCert.validity.notAfter;
  Object.assign(cert.validity, window);
  cert.setSubject([commonNameAttribute(csr.commonName)]);
  cert.setIssuer(caCert.subject.attributes);

  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    options.profile === 'node'
      ? { name: 'extKeyUsage', serverAuth: true, clientAuth: true }
      : { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    // forge's `keyIdentifier: true` would use the *subject's* key id, so pass the CA's explicitly.
    { name: 'authorityKeyIdentifier', keyIdentifier: caKeyIdentifier(caCert) },
  ];
  if (options.profile === 'node') {
    const altNames = [
      ...csr.dnsNames.map((value) => ({ type: 2, value })),
      ...csr.ipAddresses.map((address) => {
        const bytes = ipToBytes(address);
        if (bytes === undefined) throw AddressInvalidError(address);
        return { type: 7, value: bytes.toString('binary') };
      }),
    ];
    // An empty SAN sequence is invalid DER (SIZE 1..MAX), so omit the extension instead.
    if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  }
  cert.setExtensions(extensions);
  cert.sign(asForgeKey(caKey), forge.md.sha256.create());
  return normalizePem(forge.pki.certificateToPem(cert));
}

function loadCa(ca: CertificateAuthority): { caCert: forge.pki.Certificate; caKey: ForgeSigner } {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(ca.certPem);
  } catch {
    throw CaInvalidError('the CA certificate is not a readable PEM certificate');
  }
  if (!x509.ca) throw CaInvalidError(`the certificate "${x509.subject}" is not a CA (basicConstraints CA:FALSE)`);
  let key: KeyObject;
  let matches: boolean;
  try {
    key = createPrivateKey(ca.keyPem);
    matches = x509.checkPrivateKey(key);
  } catch {
    throw CaInvalidError('the CA key is not a readable PEM private key');
  }
  if (!matches) throw CaInvalidError('the CA key does not belong to the CA certificate');
  if (key.asymmetricKeyType !== 'rsa') throw CaInvalidError('the CA key is not RSA (etcd-agent signs with RSA only)');
  try {
    return { caCert: forge.pki.certificateFromPem(ca.certPem), caKey: nativeSigner(ca.keyPem) };
  } catch {
    throw CaInvalidError('the CA certificate cannot be read for signing (etcd-agent signs with RSA only)');
  }
}

function caKeyIdentifier(caCert: forge.pki.Certificate): string {
  const ski: unknown = caCert.getExtension('subjectKeyIdentifier');
  const hex = (ski as { subjectKeyIdentifier?: unknown } | null)?.subjectKeyIdentifier;
  if (typeof hex === 'string' && hex.length > 0) return forge.util.hexToBytes(hex);
  return caCert.generateSubjectKeyIdentifier().getBytes();
}

function checkValidity(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw SigningOptionsError(`${name} must be a positive number, got ${value}`);
  }
}
