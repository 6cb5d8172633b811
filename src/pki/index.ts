export { generateKeyPair, type KeyPairPem } from './keys.js';
export { nodeSubjectNames, clientSubjectNames, type SubjectNames } from './names.js';
export { createCsr, parseCsr, MAX_CSR_BYTES, type ParsedCsr } from './csr.js';
export { createCa, signCsr, type CertificateAuthority, type CertProfile, type SignOptions } from './ca.js';
export { checkCsrPolicy, type IdentityClaim } from './policy.js';
export { fingerprintOf } from './fingerprint.js';
export { certificateInfo, verifyIssuedBy, keyMatchesCertificate, type CertificateInfo } from './cert-info.js';
export { createEphemeralIdentity, type TlsIdentity } from './ephemeral.js';
export { generateToken, tokenProblem, TOKEN_PREFIX } from './token.js';
export { deriveHelloKey, newNonce, helloProof, verifyHelloProof, type HelloProofInput, type HelloRole } from './hello-proof.js';
export { canonicalIp } from './ip.js';
export {
  CsrInvalidError,
  CsrRejectedError,
  AddressInvalidError,
  NameInvalidError,
  CertificateInvalidError,
  CaInvalidError,
  SigningOptionsError,
} from './errors.js';
