import { BACKDATE_MS } from './forge-util.js';

/** The shortest leaf lifetime the agent signs (pki.certValidity's minimum, and `cert issue --validity`). */
export const MIN_LEAF_VALIDITY_MS = 2 * 60_000;

export interface LeafLifetime {
  /** When the CA signed it: notBefore is backdated (clock-skew margin), so this is notBefore + that margin. */
  issuedAt: Date;
  notAfter: Date;
  /** notAfter − issuedAt: what the CA granted (pki.certValidity, or less where the CA itself ends sooner). */
  lifetimeMs: number;
}

/**
 * The lifetime a certificate was given. Renewal is planned on it (2/3 of it),
 * not on notBefore..notAfter, whose backdating would make a short-lived
 * certificate look far older than it is.
 */
export function leafLifetime(cert: { notBefore: Date; notAfter: Date }): LeafLifetime {
  const issuedAt = new Date(Math.min(cert.notBefore.getTime() + BACKDATE_MS, cert.notAfter.getTime()));
  return { issuedAt, notAfter: cert.notAfter, lifetimeMs: cert.notAfter.getTime() - issuedAt.getTime() };
}
