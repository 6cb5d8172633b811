export { discardSpareKeyPairs, generateKeyPair, prepareKeyPairs, spareKeyPairCount, type KeyPairPem } from './keys.js';
export { nodeSubjectNames, clientSubjectNames, consumerSubjectNames, consumerNameProblem, loopbackIps, type SubjectNames } from './names.js';
export { createCsr, parseCsr, type ParsedCsr } from './csr.js';
export { createCa, signCsr, type CertificateAuthority, type CertProfile, type SignOptions } from './ca.js';
export { checkCsrPolicy, checkClientCsr, type IdentityClaim } from './policy.js';
export { leafLifetime, MIN_LEAF_VALIDITY_MS, type LeafLifetime } from './lifetime.js';
export { fingerprintOf } from './fingerprint.js';
export { certificateInfo, verifyIssuedBy, keyMatchesCertificate, type CertificateInfo } from './cert-info.js';
export { createEphemeralIdentity, type TlsIdentity } from './ephemeral.js';
export { keyIdOfCertificate, keyIdOfPublicKey } from './key-id.js';
export { generateToken } from './token.js';
export { deriveHelloKey, deriveHelloKeyAsync, newNonce, helloProof, verifyHelloProof, type HelloProofInput, type HelloRole } from './hello-proof.js';
export {
  ESCROW_VERSION,
  escrowRecord,
  openEscrowRecord,
  parseEscrowRecord,
  sealCaKey,
  openCaKey,
  trustedBy,
  type EscrowRecord,
} from './escrow.js';
