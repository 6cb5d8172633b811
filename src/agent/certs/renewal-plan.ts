/**
 * When this node renews its certificates, and when they are worth a warning.
 * Pure: times in, times out (the controller and /status use it; unit-tested).
 *
 * A leaf is renewed once 2/3 of its lifetime has passed, plus a jitter of up
 * to 1/20 of the lifetime, so members enrolled at the same moment do not all
 * ask the CA holder at once. A third of the lifetime is left at that point;
 * the expiry warning (pki.expiryWarning) must be shorter than that, or every
 * certificate would be "about to expire" for most of its life.
 *
 * Clocks disagree. The lifetime is counted from the earlier of "signed" (the
 * CA holder's clock) and "received" (this node's clock, when it wrote the
 * certificate): a node whose clock lags, or a CA holder whose clock lags
 * (its certificates then live less than they say, in the time every other
 * etcd checks them by), still renews before the certificate expires. The
 * cost when a clock runs ahead is renewing that much early, never less than
 * a sixth of the lifetime after receiving the certificate (no renewal storm).
 * The trials' `skew` kind found both lags (docs/reliability.md).
 */
import { formatDuration } from '../../util/duration.js';

export const RENEW_FRACTION = 2 / 3;
export const JITTER_FRACTION = 1 / 20;

/** After receiving a certificate, the earliest moment to renew it, as a fraction of its lifetime. */
export const MIN_AGE_FRACTION = 1 / 6;

export interface Lifetime {
  /** When the CA signed it, by the CA holder's clock. */
  issuedAt: Date;
  notAfter: Date;
  lifetimeMs: number;
  /** When this node wrote it, by this node's clock; unknown: counted from issuedAt alone. */
  receivedAt?: Date;
}

/** When to renew a certificate of this lifetime; `jitter` is a number in [0, 1). */
export function renewalTime(life: Lifetime, jitter: number): number {
  const j = Math.min(Math.max(jitter, 0), 1);
  const received = life.receivedAt?.getTime();
  const start = Math.min(life.issuedAt.getTime(), received ?? Infinity);
  const at = start + life.lifetimeMs * (RENEW_FRACTION + JITTER_FRACTION * j);
  return received === undefined ? at : Math.max(at, received + life.lifetimeMs * MIN_AGE_FRACTION);
}

/** This node's clock minus the CA holder's, as one freshly received certificate shows it (plus the transfer time). */
export function clockOffsetMs(life: Lifetime): number | null {
  return life.receivedAt ? life.receivedAt.getTime() - life.issuedAt.getTime() : null;
}

/** Pause after a failed renewal: a thirtieth of the lifetime, between 5 s and 60 s. */
export function retryDelayMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(5_000, Math.round(lifetimeMs / 30)));
}

export interface WarnedCertificate {
  file: string;
  notAfter: Date;
}

/**
 * Why /readyz fails because of a certificate, or null: one that has expired,
 * or expires within `warningMs` (0: never warn). Names the file, the moment,
 * and what renewal last said.
 */
export function expiryWarning(certs: WarnedCertificate[], warningMs: number, now: number, lastRenewalError: string | null): string | null {
  if (warningMs <= 0) return null;
  const soonest = [...certs].sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0];
  if (!soonest) return null;
  const left = soonest.notAfter.getTime() - now;
  if (left > warningMs) return null;
  const when = soonest.notAfter.toISOString();
  const renewal = lastRenewalError ? `last renewal attempt failed: ${lastRenewalError}` : 'it has not been renewed yet';
  if (left <= 0) return `certificate ${soonest.file} expired at ${when}; ${renewal}`;
  return `certificate ${soonest.file} expires at ${when} (in ${formatDuration(left)}), within pki.expiryWarning (${formatDuration(warningMs)}); ${renewal}`;
}
