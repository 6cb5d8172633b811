import { defineError } from '../util/errors.js';

/**
 * The PKI module's error codes in one place so they stay unique and greppable.
 * Each sentence names the offending value and what the operator can do.
 */
export const CsrInvalidError = defineError(
  'EA_PKI_CSR_INVALID',
  (reason: string) =>
    `The certificate signing request is unusable: ${reason}. ` +
    'The requesting agent must send a PEM PKCS#10 request signed by its own RSA key of at least 2048 bits; ' +
    'restart that agent so it regenerates its key and request.',
);

export const CsrRejectedError = defineError(
  'EA_PKI_CSR_REJECTED',
  (reason: string) =>
    `The certificate signing request was refused by the signing policy: ${reason}. ` +
    "A node may only ask for its own name and addresses (plus loopback); check the requesting agent's " +
    'configured name and advertised addresses.',
);

export const AddressInvalidError = defineError(
  'EA_PKI_ADDRESS_INVALID',
  (address: string) =>
    `"${address}" is not an IPv4 or IPv6 address and cannot go into a certificate. ` +
    'Configure plain IP addresses (no host names, ports, prefixes or zone ids).',
);

export const NameInvalidError = defineError(
  'EA_PKI_NAME_INVALID',
  (name: string, reason: string) =>
    `The certificate name "${name}" is unusable: ${reason}. Configure a node name made of printable ASCII characters without spaces.`,
);

export const CertificateInvalidError = defineError(
  'EA_PKI_CERT_INVALID',
  (what: string, reason: string) =>
    `${what} is unusable: ${reason}. Check that the file holds a PEM certificate written by etcd-agent, ` +
    'or remove it so the agent enrolls again.',
);

export const CaInvalidError = defineError(
  'EA_PKI_CA_INVALID',
  (reason: string) =>
    `The cluster CA cannot sign: ${reason}. Restore the CA certificate and its key from the same pair ` +
    '(the CA holder keeps them in its state directory).',
);

export const SigningOptionsError = defineError(
  'EA_PKI_SIGNING_OPTIONS',
  (reason: string) => `Certificate signing was called with bad options: ${reason}. This is a bug in etcd-agent; please report it.`,
);
