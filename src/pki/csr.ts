import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import type { KeyPairPem } from './keys.js';
import type { SubjectNames } from './names.js';
import { ipFromBytes, ipToBytes } from './ip.js';
import { asForgeKey, commonNameAttribute, forgePublicKey, nativeSigner, normalizePem } from './forge-util.js';
import { AddressInvalidError, CsrInvalidError } from './errors.js';

/** What a CSR asks for, reduced to facts the signing policy can judge. */
export interface ParsedCsr {
  commonName: string;
  dnsNames: string[];
  /** Canonical text form (see ip.ts). */
  ipAddresses: string[];
  /** SPKI PEM as node's crypto writes it. */
  publicKeyPem: string;
  requestsCa: boolean;
  /** SAN kinds other than DNS and IP, e.g. 'email', 'uri'; the policy refuses them. */
  otherSanTypes: string[];
  /** Names (or OIDs) of every extension in the extensionRequest, for logs and policy. */
  requestedExtensions: string[];
}

/** A CSR is a few hundred bytes to 2 KiB; anything near this is an attack or a mistake. */
export const MAX_CSR_BYTES = 16 * 1024;
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192; // bounds the pure-JS signature check on untrusted input

const ACCEPTED_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
};

const SAN_TYPE_NAMES: Record<number, string> = {
  0: 'otherName',
  1: 'email',
  2: 'dns',
  3: 'x400Address',
  4: 'directoryName',
  5: 'ediPartyName',
  6: 'uri',
  7: 'ip',
  8: 'registeredID',
};

const SAN_DNS = 2;
const SAN_IP = 7;

// Shapes of the untyped objects node-forge hands back for parsed extensions.
interface ForgeAltName {
  type: number;
  value: unknown;
}
interface ForgeExtension {
  id: string;
  name?: string;
  cA?: boolean;
  altNames?: ForgeAltName[];
}

export function createCsr(key: KeyPairPem, names: SubjectNames): string {
  const csr = forge.pki.createCertificationRequest();
  // Derive the public half from the private key so a mismatched pair cannot yield an unverifiable CSR.
  const publicKeyPem = createPublicKey(key.privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
  csr.publicKey = forgePublicKey(publicKeyPem);
  csr.setSubject([commonNameAttribute(names.commonName)]);
  const altNames = [
    ...names.dnsNames.map((name) => ({ type: SAN_DNS, value: name })),
    ...names.ipAddresses.map((address) => {
      // forge's own text-to-bytes IP parser is lax (e.g. no embedded IPv4), so give it bytes.
      const bytes = ipToBytes(address);
      if (bytes === undefined) throw AddressInvalidError(address);
      return { type: SAN_IP, value: bytes.toString('binary') };
    }),
  ];
  if (altNames.length > 0) {
    csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames }] }]);
  }
  csr.sign(asForgeKey(nativeSigner(key.privateKeyPem)), forge.md.sha256.create());
  return normalizePem(forge.pki.certificationRequestToPem(csr));
}

/**
 * Parses untrusted input from a peer. Every way it can be malformed becomes
 * EA_PKI_CSR_INVALID; whether the (well-formed) request is allowed is policy.ts's job.
 */
export function parseCsr(pem: string): ParsedCsr {
  if (typeof pem !== 'string') throw CsrInvalidError('it is not text');
  const size = Buffer.byteLength(pem, 'utf8');
  if (size > MAX_CSR_BYTES) throw CsrInvalidError(`it is ${size} bytes, more than the ${MAX_CSR_BYTES} allowed`);

  const csr = decode(pem);
  const key = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (key === null) throw CsrInvalidError('it carries no public key');
  const bits = key.n.bitLength();
  if (bits < MIN_RSA_BITS) throw CsrInvalidError(`its RSA key has ${bits} bits, fewer than ${MIN_RSA_BITS}`);
  if (bits > MAX_RSA_BITS) throw CsrInvalidError(`its RSA key has ${bits} bits, more than ${MAX_RSA_BITS}`);
  const signature = ACCEPTED_SIGNATURES[csr.signatureOid ?? ''];
  if (signature === undefined) {
    throw CsrInvalidError(`it is signed with algorithm ${csr.signatureOid ?? 'unknown'}; only RSA with SHA-256/384/512 is accepted`);
  }
  if (!safely(() => csr.verify())) throw CsrInvalidError('its signature does not verify against its own public key');

  const extensions = requestedExtensions(csr);
  const sans = subjectAltNames(extensions);
  return {
    commonName: commonName(csr),
    dnsNames: sans.dnsNames,
    ipAddresses: sans.ipAddresses,
    publicKeyPem: createPublicKey(forge.pki.publicKeyToPem(key)).export({ type: 'spki', format: 'pem' }).toString(),
    requestsCa: extensions.some((e) => e.name === 'basicConstraints' && e.cA === true),
    otherSanTypes: sans.otherSanTypes,
    requestedExtensions: extensions.map((e) => e.name ?? e.id),
  };
}

function decode(pem: string): forge.pki.CertificateSigningRequest {
  let blocks: forge.pem.ObjectPEM[];
  try {
    blocks = forge.pem.decode(pem);
  } catch {
    blocks = []; // forge throws when it finds no PEM block at all
  }
  if (blocks.length === 0) throw CsrInvalidError('it contains no PEM block (expected -----BEGIN CERTIFICATE REQUEST-----)');
  if (blocks.length !== 1) throw CsrInvalidError(`it holds ${blocks.length} PEM blocks instead of one`);
  const type = blocks[0]?.type;
  if (type !== 'CERTIFICATE REQUEST') throw CsrInvalidError(`its PEM block is "${type ?? ''}", not "CERTIFICATE REQUEST"`);
  try {
    return forge.pki.certificationRequestFromPem(pem, true, true);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/not RSA/i.test(message)) throw CsrInvalidError('its key is not RSA');
    throw CsrInvalidError('its contents are not a valid PKCS#10 structure');
  }
}

function commonName(csr: forge.pki.CertificateSigningRequest): string {
  const cns = csr.subject.attributes.filter((a) => a.shortName === 'CN' || a.name === 'commonName');
  if (cns.length !== 1) throw CsrInvalidError(`its subject has ${cns.length} common names instead of one`);
  const value: unknown = cns[0]?.value;
  if (typeof value !== 'string' || !/^[\x20-\x7e]+$/.test(value)) {
    throw CsrInvalidError('its common name is empty or not printable ASCII');
  }
  return value;
}

function requestedExtensions(csr: forge.pki.CertificateSigningRequest): ForgeExtension[] {
  const requests = csr.attributes.filter((a) => a.name === 'extensionRequest');
  if (requests.length > 1) throw CsrInvalidError('it carries more than one extensionRequest attribute');
  const extensions = (requests[0]?.extensions ?? []) as ForgeExtension[];
  const seen = new Set<string>();
  for (const e of extensions) {
    // Two SAN extensions could hide names from a reader that only looks at the first.
    if (seen.has(e.id)) throw CsrInvalidError(`it requests extension ${e.name ?? e.id} twice`);
    seen.add(e.id);
  }
  return extensions;
}

function subjectAltNames(extensions: ForgeExtension[]): Pick<ParsedCsr, 'dnsNames' | 'ipAddresses' | 'otherSanTypes'> {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const otherSanTypes: string[] = [];
  for (const e of extensions) {
    if (e.name !== 'subjectAltName') continue;
    for (const alt of e.altNames ?? []) {
      if (alt.type === SAN_DNS) {
        if (typeof alt.value !== 'string' || !/^[\x21-\x7e]+$/.test(alt.value)) {
          throw CsrInvalidError('it has a DNS name that is empty or not printable ASCII');
        }
        dnsNames.push(alt.value);
      } else if (alt.type === SAN_IP) {
        // forge leaves the raw octets in .value (its .ip text form is not canonical); decode them ourselves.
        const ip = typeof alt.value === 'string' ? ipFromBytes(Buffer.from(alt.value, 'binary')) : undefined;
        if (ip === undefined) throw CsrInvalidError('it has an IP address entry that is not 4 or 16 bytes');
        ipAddresses.push(ip);
      } else {
        otherSanTypes.push(SAN_TYPE_NAMES[alt.type] ?? `type ${alt.type}`);
      }
    }
  }
  return { dnsNames: unique(dnsNames), ipAddresses: unique(ipAddresses), otherSanTypes: unique(otherSanTypes) };
}

function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

