import type { ParsedCsr } from './csr.js';
import type { CertProfile } from './ca.js';
import { canonicalIp } from './ip.js';
import { loopbackIps } from './names.js';
import { CsrRejectedError } from './errors.js';
import { keyIdOfPublicKey } from './key-id.js';

/** Who the requester is, as established by the authenticated hello and the agreed view — never by the CSR. */
export interface IdentityClaim {
  name: string;
  addresses: string[];
  /** When set, a node CSR must carry the key with this key id (the key the requester authenticated with). */
  keyId?: string;
}

/**
 * The CA holder's rule: a node gets a certificate for its own name and
 * addresses (plus loopback) and nothing else. Throws EA_PKI_CSR_REJECTED
 * naming the first offending value; returns when the CSR may be signed.
 */
export function checkCsrPolicy(csr: ParsedCsr, who: IdentityClaim, profile: CertProfile): void {
  if (csr.requestsCa) throw CsrRejectedError('it asks to be a CA (basicConstraints CA:true); nodes only get leaf certificates');
  if (profile === 'client') checkClient(csr, who);
  else if (profile === 'node') checkNode(csr, who);
  else throw CsrRejectedError(`profile "${String(profile)}" is unknown`);
}

function checkNode(csr: ParsedCsr, who: IdentityClaim): void {
  const [otherType] = csr.otherSanTypes;
  if (otherType !== undefined) {
    throw CsrRejectedError(`it asks for a subject alternative name of type ${otherType}; only DNS names and IP addresses are allowed`);
  }
  if (csr.commonName !== who.name) {
    throw CsrRejectedError(`its common name "${csr.commonName}" is not the requester's name "${who.name}"`);
  }
  if (who.keyId !== undefined && keyIdOfPublicKey(csr.publicKeyPem) !== who.keyId) {
    throw CsrRejectedError(`its key is not the key ${who.name} authenticated with; a node certificate is issued only for the node's own key`);
  }
  // DNS names compare case-insensitively, as resolvers and TLS clients do.
  const allowedDns = new Set([who.name.toLowerCase(), 'localhost']);
  for (const dns of csr.dnsNames) {
    if (!allowedDns.has(dns.toLowerCase())) {
      throw CsrRejectedError(`it asks for DNS name "${dns}", which is neither the requester's name "${who.name}" nor "localhost"`);
    }
  }
  const own = who.addresses.map(canonicalIp).filter((ip): ip is string => ip !== undefined);
  const allowedIps = new Set([...own, ...loopbackIps()]);
  const listed = own.length > 0 ? own.join(', ') : 'none';
  for (const requested of csr.ipAddresses) {
    const ip = canonicalIp(requested);
    if (ip === undefined || !allowedIps.has(ip)) {
      throw CsrRejectedError(
        `it asks for IP address "${requested}", which is neither one of the requester's addresses (${listed}) nor loopback`,
      );
    }
  }
  // Without one of its real addresses the certificate would be useless to peers; refuse early and say why.
  const requested = new Set(csr.ipAddresses.map(canonicalIp));
  if (!own.some((ip) => requested.has(ip))) {
    throw CsrRejectedError(`it lists none of the requester's addresses (${listed}) as an IP subject alternative name`);
  }
}

function checkClient(csr: ParsedCsr, who: IdentityClaim): void {
  checkClientCsr(csr, `etcdctl@${who.name}`, `a client certificate for "${who.name}"`);
}

/**
 * A client certificate's request: exactly this CN, no SANs, no CA. Used for
 * a node's admin client (CN etcdctl@NODE) and for consumers (`cert issue`).
 */
export function checkClientCsr(csr: ParsedCsr, commonName: string, what = `a client certificate for "${commonName}"`): void {
  if (csr.requestsCa) throw CsrRejectedError('it asks to be a CA (basicConstraints CA:true); client certificates are leaves');
  if (csr.commonName !== commonName) {
    throw CsrRejectedError(`its common name "${csr.commonName}" is not "${commonName}" as ${what} must be`);
  }
  const san = [
    ...csr.dnsNames.map((v) => `DNS name "${v}"`),
    ...csr.ipAddresses.map((v) => `IP address "${v}"`),
    ...csr.otherSanTypes.map((v) => `a ${v} name`),
  ][0];
  if (san !== undefined) throw CsrRejectedError(`it asks for ${san}; client certificates carry no subject alternative names`);
}
