import { certificateInfo } from '../../pki/index.js';
import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { clockOffsetMs, renewalTime, retryDelayMs } from '../certs/renewal-plan.js';
import { completeRenewal, renewRequest } from '../certs/renew-request.js';
import type { NodeCredentials } from '../credentials.js';
import type { PkiPaths } from '../files/pki-files.js';
import type { RenewRequest, RenewResponse } from '../peer/protocol.js';
import type { CertificateRenewalStatus } from '../status/model.js';
import type { Controller } from './controller.js';

/** A clock offset beyond this (against the CA holder, at a renewal) is logged as a warning. */
export const CLOCK_WARN_MS = 30_000;

export interface CertificatesParts {
  creds: NodeCredentials;
  paths: PkiPaths;
  self: { name: string; address: string };
  /** Has the CA sign: this node itself when it holds the CA, else the holder over the peer API. Returns who signed. */
  ask(request: RenewRequest): Promise<{ answer: RenewResponse; from: string }>;
  /** creds changed (renewed, or the cluster certificate expired): the peer server presents creds.tls() from now on. */
  switched(): void;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

/**
 * The certificates controller: renews this node's server and admin-client
 * certificates once 2/3 of their lifetime has passed (with jitter; see
 * certs/renewal-plan.ts), over the peer API with the current certificate.
 * The new files replace the old ones atomically; etcd picks them up on its
 * next TLS connection, the agent's etcd client on its next call (it reads
 * creds each time), the peer server through `switched`.
 *
 * A certificate that expired (the host was off, or renewal failed for a
 * third of the lifetime) can only be replaced with the join token: the
 * conductor calls `reenroll` before anything else runs, and the CA holder
 * signs only for a member whose `nodes/<name>` record carries this node's key.
 */
export class CertificatesController implements Controller {
  readonly name = 'certificates';
  readonly intervalMs = 1000;
  private readonly jitter = new Map<string, number>();
  private retryAt = 0;
  private lastRenewal: CertificateRenewalStatus['lastRenewal'] = null;
  private lastError: string | null = null;
  private renewals = 0;
  private failures = 0;
  private reenrolled: CertificateRenewalStatus['reenrolled'] = null;
  private clockOffset: CertificateRenewalStatus['clockOffset'] = null;

  constructor(private readonly parts: CertificatesParts) {}

  private now(): number {
    return this.parts.now?.() ?? Date.now();
  }

  /** The server certificate has expired: only re-enrollment with the join token helps. */
  expired(): boolean {
    return this.parts.creds.serverExpired(this.now());
  }

  /** When the server and client certificates are renewed next (both at once, at the earlier of their two times). */
  nextRenewalAt(): number | undefined {
    const times = (['server', 'client'] as const).flatMap((kind) => {
      const fact = this.parts.creds.fact(kind);
      if (!fact) return [];
      let j = this.jitter.get(fact.fingerprint);
      if (j === undefined) {
        j = (this.parts.random ?? Math.random)();
        if (this.jitter.size > 16) this.jitter.clear();
        this.jitter.set(fact.fingerprint, j);
      }
      return [renewalTime(fact, j)];
    });
    if (times.length === 0) return undefined;
    return Math.max(Math.min(...times), this.retryAt);
  }

  async reconcile(): Promise<void> {
    if (!this.parts.creds.pki()) return;
    if (this.expired()) return this.reenroll();
    const at = this.nextRenewalAt();
    if (at === undefined || this.now() < at) return;
    await this.renew('2/3 of the certificate lifetime has passed');
  }

  /** Called by the conductor while the server certificate is expired; throws (and is retried) until it worked. */
  async reenroll(): Promise<void> {
    const server = this.parts.creds.fact('server');
    const when = server ? server.notAfter.toISOString() : 'an unknown time';
    const reason = `the certificate ${server?.file ?? 'server.crt'} expired at ${when} (the agent was stopped, or could not renew it in time); re-enrolling with the join token`;
    if (this.now() < this.retryAt) throw new Error(`${reason}; last attempt failed: ${this.lastError ?? 'unknown'}`);
    // The expired certificate is useless on the wire: present the self-signed one the token hello vouches for.
    this.parts.switched();
    await this.renew(reason, true);
    this.reenrolled = { at: new Date(this.now()).toISOString(), reason };
  }

  private async renew(reason: string, reenroll = false): Promise<void> {
    const { creds, logger } = this.parts;
    const current = creds.pki();
    if (!current) return;
    const before = creds.fact('server');
    const started = Date.now();
    const cpu = process.cpuUsage();
    logger.info({ component: 'certificates', reason, reenroll, notAfter: before?.notAfter.toISOString() }, 'renewing this node\'s certificates');
    try {
      const request = renewRequest(current, this.parts.self.name, this.parts.self.address);
      const { answer, from } = await this.parts.ask(request);
      const next = await completeRenewal(this.parts.paths, current, answer);
      creds.setPki(next);
      this.parts.switched();
      const used = process.cpuUsage(cpu);
      const notAfter = certificateInfo(next.serverCertPem).notAfter.toISOString();
      this.lastRenewal = { at: new Date(this.now()).toISOString(), from, ms: Date.now() - started, cpuMs: Math.round((used.user + used.system) / 1000), notAfter };
      this.renewals += 1;
      this.lastError = null;
      this.retryAt = 0;
      this.noteClockOffset(from);
      logger.info(
        { component: 'certificates', reason, reenroll, from, oldNotAfter: before?.notAfter.toISOString(), notAfter, ms: this.lastRenewal.ms, cpuMs: this.lastRenewal.cpuMs },
        reenroll ? 're-enrolled with the join token: new certificates written' : 'renewed this node\'s certificates',
      );
    } catch (err) {
      this.failures += 1;
      this.lastError = describeError(err);
      this.retryAt = this.now() + retryDelayMs(before?.lifetimeMs ?? 0);
      throw err;
    }
  }

  /**
   * Renewal tolerates clocks that disagree (renewal-plan.ts), but a host
   * whose clock is off by more than CLOCK_WARN_MS is a problem of its own
   * (TLS everywhere checks validity by the clock): say so, once per renewal.
   */
  private noteClockOffset(caHolder: string): void {
    const server = this.parts.creds.fact('server');
    const ms = server ? clockOffsetMs(server) : null;
    if (!server || ms === null) return;
    this.clockOffset = { ms, caHolder, at: new Date(this.now()).toISOString() };
    if (Math.abs(ms) > CLOCK_WARN_MS) {
      this.parts.logger.warn(
        { component: 'certificates', clockOffsetMs: ms, caHolder },
        `this host's clock is ${Math.round(Math.abs(ms) / 1000)} s ${ms > 0 ? 'ahead of' : 'behind'} the CA holder's (${caHolder}); certificates are still renewed in time, but keep the clocks of every etcd host synchronised (NTP, e.g. systemd-timesyncd or chrony)`,
      );
    }
  }

  status(): CertificateRenewalStatus {
    const next = this.nextRenewalAt();
    return {
      nextRenewalAt: next === undefined ? null : new Date(next).toISOString(),
      lastRenewal: this.lastRenewal,
      lastError: this.lastError,
      renewals: this.renewals,
      failures: this.failures,
      reenrolled: this.reenrolled,
      clockOffset: this.clockOffset,
    };
  }
}
