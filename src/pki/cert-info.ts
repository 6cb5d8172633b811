import { X509Certificate, createPrivateKey } from 'node:crypto';
import { fingerprintOf } from './fingerprint.js';
import { canonicalIp } from './ip.js';
import { CertificateInvalidError } from './errors.js';

export interface CertificateInfo {
  subjectCommonName: string;
  issuerCommonName: string;
  /** Uppercase hex, as node prints it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  /** Canonical text form (see ip.ts). */
  ipAddresses: string[];
  isCa: boolean;
  /** 'serverAuth', 'clientAuth', ... or the dotted OID when it has no short name here. */
  extendedKeyUsage: string[];
  /** Exactly node's X509Certificate#fingerprint256 / tls getPeerCertificate().fingerprint256 format. */
  fingerprint256: string;
}

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

/** Facts of a certificate, PEM or DER (a TLS peer certificate's `raw`). */
export function certificateInfo(certPem: string | Buffer): CertificateInfo {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    throw CertificateInvalidError('The certificate', 'it is not a readable PEM certificate');
  }
  const sans = parseSubjectAltName(x509.subjectAltName ?? '');
  return {
    subjectCommonName: commonNameOf(x509.subject),
    issuerCommonName: commonNameOf(x509.issuer),
    serialNumber: x509.serialNumber.toUpperCase(),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    dnsNames: sans.dnsNames,
    ipAddresses: sans.ipAddresses,
    isCa: x509.ca,
    // node names this property keyUsage, but it holds the extended key usage OIDs.
    extendedKeyUsage: (x509.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    fingerprint256: typeof certPem === 'string' ? fingerprintOf(certPem) : x509.fingerprint256,
  };
}

/** True when caCertPem is a CA whose key signed certPem and whose subject is certPem's issuer. */
export function verifyIssuedBy(certPem: string, caCertPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caCertPem);
    return ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** node prints a DN one attribute per line ("CN=...\nO=..."). */
function commonNameOf(dn: string): string {
  for (const line of dn.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return '';
}

/**
 * node prints SANs as `DNS:a, IP Address:1.2.3.4`, JSON-quoting values that
 * contain separators, and IPv6 in long form; we only need DNS and IP entries.
 */
function parseSubjectAltName(text: string): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const colon = rest.indexOf(':');
    if (colon < 0) break;
    const type = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      const end = closingQuote(rest);
      value = JSON.parse(rest.slice(0, end + 1)) as string;
      rest = rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(', ');
      value = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? '' : rest.slice(comma);
    }
    if (rest.startsWith(', ')) rest = rest.slice(2);
    if (type === 'DNS') dnsNames.push(value);
    else if (type === 'IP Address') ipAddresses.push(canonicalIp(value) ?? value);
  }
  return { dnsNames, ipAddresses };
}

function closingQuote(quoted: string): number {
  for (let i = 1; i < quoted.length; i++) {
    if (quoted[i] === '\\') i++;
    else if (quoted[i] === '"') return i;
  }
  return quoted.length - 1;
}
