import { createCaEscrow, readCaEscrow } from '../../etcd/ca-escrow-store.js';
import type { EtcdTls } from '../../etcd/client.js';
import { ElectionSession } from '../../etcd/election.js';
import { clusterKeys } from '../../etcd/keys.js';
import {
  escrowRecord,
  fingerprintOf,
  openEscrowRecord,
  parseEscrowRecord,
  trustedBy,
  type CertificateAuthority,
} from '../../pki/index.js';
import { defineError, describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { adminTlsOf, type NodePki } from '../files/pki-files.js';
import type { Candidate } from '../peer/protocol.js';
import type { CaRoleStatus } from '../status/model.js';
import { candidateFromValue, electionValue } from './ca-role-value.js';
import type { Controller } from './controller.js';

/**
 * Lease TTL of a CA-role candidate. A dead holder's role moves on once its
 * lease expires: at most TTL after its last keepalive, but when the dead host
 * was also etcd's raft leader, the new raft leader first extends every lease
 * by a full TTL plus an election timeout (etcd's lessor promotion), after its
 * own election (~1-2 s). 8 s keeps that worst case (~11 s) inside the 15 s
 * the issue allows, with keepalives every ~2.7 s.
 */
export const CA_ROLE_TTL_SECONDS = 8;
const CALL_TIMEOUT_MS = 3000;
/** The holder checks that the escrow is still in etcd this often (someone may delete a damaged one). */
const ESCROW_RECHECK_MS = 60_000;
/**
 * How long a member that could sign from the escrow waits, while nobody has
 * held the role since it started watching, before it campaigns: the escrow is
 * sealed at formation, before the maker's first election round, and the maker
 * is to be the first holder. Past this, the maker is taken for gone.
 */
export const ESCROW_FIRST_CAMPAIGN_GRACE_MS = 2 * CA_ROLE_TTL_SECONDS * 1000;

export const EscrowForeign = defineError(
  'EA_CA_ESCROW_FOREIGN',
  (where: string) =>
    `the CA certificate of ${where} is not one this node's etcd trusts (it is not in this node's ca.crt); ` +
    'etcd never reloads its trusted CA, so signing with it would issue certificates the members reject: this node does not take the CA role. ' +
    'Compare the certificates, and see docs/ca.md for rotating a CA',
);

export interface CaRoleDeps {
  clusterName: string;
  /** The join token: it opens the escrow. Never logged. */
  token: string;
  /** This member's client URL: the session lives on the local member only, so a holder cut off from its etcd loses the role. */
  localUrl: string;
  self(): Candidate;
  /** This node's certificates (its admin client certificate talks to etcd). */
  pki(): NodePki | undefined;
  /** The CA in this node's state dir: present on the member that made it (the first holder). */
  localCa(): Promise<CertificateAuthority | undefined>;
  logger: Logger;
}

type RoleState = CaRoleStatus['state'];

/**
 * The CA role after formation. Every member able to sign campaigns in etcd's
 * election (`ca/election`, lease TTL 10 s); the oldest candidate holds the
 * role. Able to sign means: the CA key in its own state dir (the member that
 * made the CA), or the escrow in etcd opens with its join token, and in both
 * cases the CA certificate is one its etcd trusts (etcd never reloads
 * ca.crt, so the CA must never change). The member that made the CA seals
 * the escrow before it calls the cluster formed (and again as holder if it is
 * missing); the others campaign only behind a holder they have seen, or after
 * ESCROW_FIRST_CAMPAIGN_GRACE_MS of an empty election, so the first holder is
 * the one that made the CA unless it died first. Who holds the role is watched
 * (an observer), so /status and join answers never wait on etcd; whether
 * this node holds it when it is about to sign is asked of etcd (confirm()).
 */
export class CaRoleController implements Controller {
  readonly name = 'ca-role';
  readonly intervalMs = 2000;

  private session: ElectionSession | undefined;
  private ca: { material: CertificateAuthority; source: 'local' | 'escrow' } | undefined;
  private holder: { candidate: Candidate; since: string } | undefined;
  private state: { state: RoleState; reason: string; since: string } = { state: 'waiting', reason: 'the cluster has not formed yet', since: new Date().toISOString() };
  private heldSince: string | undefined;
  private observedSince: string | undefined;
  /** The last other member seen holding the role (for the log when this node takes over). */
  private formerHolder: string | undefined;
  private escrow: CaRoleStatus['escrow'] = 'unknown';
  private escrowCheckedAt = 0;
  private timesElected = 0;
  private lastElectedAt: string | null = null;
  private staleChecked = false;
  private closed = false;
  /** Somebody has led the CA-role election since this agent started watching it. */
  private everHeld = false;
  /** Since when the election has been seen without a leader (undefined while somebody leads, or before the first look). */
  private vacantSince: number | undefined;

  constructor(private readonly deps: CaRoleDeps) {}

  async reconcile(): Promise<void> {
    if (this.closed) return;
    const pki = this.deps.pki();
    if (!pki) return;
    const tls: EtcdTls = adminTlsOf(pki);
    // A renewed client certificate: a holder keeps its session (etcd checks a certificate only when a
    // connection opens), anyone else takes the new one now; a holder does once it no longer leads.
    if (this.session && this.session.tls.certPem !== tls.certPem && !this.session.elected()) {
      await this.session.close();
      this.session = undefined;
    }
    if (!this.session) {
      const opened = await ElectionSession.open({
        endpoints: [this.deps.localUrl],
        tls,
        electionKey: clusterKeys(this.deps.clusterName).caElection,
        ttlSeconds: CA_ROLE_TTL_SECONDS,
        callTimeoutMs: CALL_TIMEOUT_MS,
      });
      // Opening may wait for etcd3 to load: a stop meanwhile must not leave a client open.
      if (this.closed) {
        await opened.close();
        return;
      }
      this.session = opened;
    }
    const session = this.session;
    if (!session.observing()) {
      await session.observe(
        (value) => this.onObserved(value),
        (reason) => this.deps.logger.warn({ component: 'ca', reason }, 'watching the CA-role election broke; watching again'),
      );
    }
    if (!this.ca) await this.loadCa(pki.caPem, tls);
    if (this.ca && !session.campaigning() && !this.closed && this.mayCampaign()) await this.campaign(session);
    if (session.elected()) await this.keepEscrow(tls);
  }

  /**
   * The maker (CA key in its state dir) campaigns at once. A member with the
   * escrow's key campaigns once somebody has held the role since it started
   * watching (it queues behind the holder), or once the role has stayed
   * vacant for the grace period (the maker died before its first round).
   */
  private mayCampaign(): boolean {
    if (this.ca?.source === 'local' || this.everHeld) return true;
    if (this.vacantSince === undefined) return false;
    if (Date.now() - this.vacantSince >= ESCROW_FIRST_CAMPAIGN_GRACE_MS) return true;
    this.setState('standby', `able to sign (CA key from the escrow); nobody has held the CA role yet, so the member that made the CA goes first (campaigns within ${ESCROW_FIRST_CAMPAIGN_GRACE_MS / 1000} s of an empty election)`);
    return false;
  }

  /** The election has been seen since this agent started. */
  observed(): boolean {
    return this.observedSince !== undefined;
  }

  /** The holder as last observed (never waits on etcd). */
  currentHolder(): Candidate | undefined {
    return this.holder?.candidate;
  }

  /**
   * This node leads the election, as far as it knows without asking etcd: its
   * campaign was elected, and the watch does not show another holder (a lease
   * that expired while the local etcd was away is noticed by the watch first).
   */
  holdsRole(): boolean {
    if (this.session?.elected() !== true) return false;
    return this.holder === undefined || this.holder.candidate.nodeId === this.deps.self().nodeId;
  }

  /**
   * Asked of etcd right before signing: this node's candidate key is the
   * oldest one now (a linearizable read), so a holder whose lease ran out
   * unnoticed, or a former holder, signs nothing. False when etcd does not answer.
   */
  async confirm(): Promise<boolean> {
    const session = this.session;
    if (!session?.elected() || !this.ca) return false;
    try {
      return await session.confirmLeader();
    } catch (err) {
      this.deps.logger.warn({ component: 'ca', reason: describeError(err) }, 'could not confirm the CA role with etcd; not signing');
      return false;
    }
  }

  /** The CA to sign with, only while this node holds the role. */
  signingCa(): CertificateAuthority | undefined {
    return this.holdsRole() ? this.ca?.material : undefined;
  }

  status(): CaRoleStatus {
    const superseded = this.state.state === 'holder' && !this.holdsRole();
    return {
      state: superseded ? 'standby' : this.state.state,
      reason: superseded ? `another member holds the CA role now (${this.holder?.candidate.name ?? '?'}); its own lease has ended, the agent campaigns again once it notices` : this.state.reason,
      since: this.state.since,
      keySource: this.ca?.source ?? null,
      escrow: this.escrow,
      holder: this.holder ? { ...this.holder.candidate, since: this.holder.since } : null,
      observedSince: this.observedSince ?? null,
      heldSince: this.heldSince ?? null,
      timesElected: this.timesElected,
      lastElectedAt: this.lastElectedAt,
    };
  }

  /**
   * At formation, on the member that made the CA (its key is in its state
   * dir), before it calls the cluster formed: the escrow goes into etcd now,
   * not after this node's first election round. A maker that died for good
   * in between would otherwise take the CA with it: no other member could
   * ever hold the role (found by the kill-replace trial, seed 5006). Does
   * nothing on other members, or when the escrow is there.
   */
  async sealAtFormation(): Promise<void> {
    const pki = this.deps.pki();
    const local = await this.deps.localCa();
    if (!pki || !local) return;
    await this.sealEscrow(local, adminTlsOf(pki), 'formation: the member that made the CA seals it before calling the cluster formed');
  }

  /** Resigns (a holder hands the role over at once), stops watching, closes the session. */
  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    if (session?.elected()) this.deps.logger.info({ component: 'ca', reason: 'agent stopping' }, 'handing over the CA role');
    await session?.close();
  }

  private onObserved(value: string | undefined): void {
    this.observedSince ??= new Date().toISOString();
    const candidate = value === undefined ? undefined : candidateFromValue(value);
    if (value !== undefined && !candidate) {
      this.deps.logger.warn({ component: 'ca' }, 'the CA-role election is led by a value that is not an agent candidate; it is ignored');
    }
    if (candidate && this.holder && electionValue(candidate) === electionValue(this.holder.candidate)) return;
    const previous = this.holder?.candidate.name;
    if (this.holder && this.holder.candidate.nodeId !== this.deps.self().nodeId) this.formerHolder = this.holder.candidate.name;
    this.holder = candidate ? { candidate, since: new Date().toISOString() } : undefined;
    if (candidate) {
      this.everHeld = true;
      this.vacantSince = undefined;
    } else this.vacantSince ??= Date.now();
    if (candidate) {
      this.deps.logger.info({ component: 'ca', holder: candidate.name, holderId: candidate.nodeId, previous: previous ?? null }, `the CA role is held by ${candidate.name}`);
    } else if (previous !== undefined) {
      this.deps.logger.warn({ component: 'ca', previous }, `no agent holds the CA role (${previous} left it); the next candidate takes it`);
    }
  }

  private setState(state: RoleState, reason: string): void {
    if (state === this.state.state && reason === this.state.reason) return;
    this.state = { state, reason, since: new Date().toISOString() };
  }

  private ineligible(reason: string): void {
    if (reason !== this.state.reason) this.deps.logger.warn({ component: 'ca', reason }, 'this node cannot take the CA role');
    this.setState('ineligible', reason);
  }

  /** Finds the CA this node could sign with: its own, or the escrow's; sets `ca` or says why not. */
  private async loadCa(trustedPem: string, tls: EtcdTls): Promise<void> {
    let local: CertificateAuthority | undefined;
    try {
      local = await this.deps.localCa();
    } catch (err) {
      return this.ineligible(`the CA in this node's state dir is unusable: ${describeError(err)}`);
    }
    if (local) {
      if (!trustedBy(local.certPem, trustedPem)) return this.ineligible(EscrowForeign("this node's own CA (state dir)").message);
      this.ca = { material: local, source: 'local' };
      this.deps.logger.info({ component: 'ca', keySource: 'local' }, 'this node can sign (the CA key is in its state dir); campaigning for the CA role');
      return;
    }
    const key = clusterKeys(this.deps.clusterName).caEscrow;
    const text = await readCaEscrow([this.deps.localUrl], tls, key, CALL_TIMEOUT_MS);
    if (text === undefined) {
      this.escrow = 'absent';
      return this.setState('waiting', 'no CA key escrow in etcd yet (the first CA holder seals it once it holds the role); until then this node cannot take the CA role');
    }
    this.escrow = 'present';
    let material: CertificateAuthority;
    try {
      material = openEscrowRecord(parseEscrowRecord(text), this.deps.token, this.deps.clusterName);
    } catch (err) {
      return this.ineligible(describeError(err));
    }
    if (!trustedBy(material.certPem, trustedPem)) return this.ineligible(EscrowForeign(`the CA key escrow (${key})`).message);
    this.ca = { material, source: 'escrow' };
    this.deps.logger.info({ component: 'ca', keySource: 'escrow', caFingerprint: fingerprintOf(material.certPem) }, 'the CA key escrow opens with this node\'s token and its CA is the trusted one; campaigning for the CA role');
  }

  private async campaign(session: ElectionSession): Promise<void> {
    const self = this.deps.self();
    if (!this.staleChecked) {
      // A candidate of this node's own from before a restart (same node id, so the same key) would lead
      // until its lease ran out with nobody signing; end it now and let the role move on.
      const revoked = await session.revokeStale((value) => candidateFromValue(value)?.nodeId === self.nodeId);
      this.staleChecked = true;
      if (revoked > 0) this.deps.logger.info({ component: 'ca', revoked }, 'ended this node\'s own CA-role candidacy left from before a restart');
    }
    session.campaign(electionValue(self), {
      elected: () => this.elected(),
      lost: (reason) => this.lost(reason),
    });
    this.setState('standby', `able to sign (CA key from ${this.ca?.source === 'local' ? 'its state dir' : 'the escrow'}); waiting in the CA-role election`);
  }

  private elected(): void {
    const now = new Date().toISOString();
    this.heldSince = now;
    this.lastElectedAt = now;
    this.timesElected++;
    const current = this.holder && this.holder.candidate.nodeId !== this.deps.self().nodeId ? this.holder.candidate.name : undefined;
    const previous = current ?? this.formerHolder ?? null;
    this.setState('holder', `holds the CA role (CA key from ${this.ca?.source === 'local' ? 'its state dir' : 'the escrow'})`);
    this.deps.logger.info(
      { component: 'ca', keySource: this.ca?.source, previous, reason: previous ? `the lease of ${previous} ended` : 'first candidate in the election' },
      'this node now holds the CA role and signs',
    );
  }

  private lost(reason: string): void {
    const wasHolder = this.heldSince !== undefined;
    this.heldSince = undefined;
    this.escrowCheckedAt = 0;
    if (wasHolder) this.deps.logger.warn({ component: 'ca', reason }, 'this node lost the CA role; it signs nothing until it holds the role again');
    else this.deps.logger.info({ component: 'ca', reason }, 'the CA-role candidacy ended; campaigning again');
    this.setState('standby', `campaigning again after its candidacy ended (${reason})`);
  }

  /** Writes the escrow of `ca` unless one is in etcd already (create-if-absent: never overwritten). */
  private async sealEscrow(ca: CertificateAuthority, tls: EtcdTls, reason: string): Promise<void> {
    const key = clusterKeys(this.deps.clusterName).caEscrow;
    if ((await readCaEscrow([this.deps.localUrl], tls, key, CALL_TIMEOUT_MS)) !== undefined) {
      this.escrow = 'present';
      return;
    }
    const record = escrowRecord(ca, this.deps.token, this.deps.clusterName, this.deps.self().nodeId);
    const wrote = await createCaEscrow([this.deps.localUrl], tls, key, JSON.stringify(record), CALL_TIMEOUT_MS);
    if (wrote) this.deps.logger.info({ component: 'ca', etcdKey: key, reason }, 'sealed the CA key into etcd under the join token (escrow)');
    this.escrow = 'present';
  }

  /** While holding the role: the escrow is in etcd (sealed now if missing), and it is this CA's. */
  private async keepEscrow(tls: EtcdTls): Promise<void> {
    const ca = this.ca;
    if (!ca || Date.now() - this.escrowCheckedAt < ESCROW_RECHECK_MS) return;
    const key = clusterKeys(this.deps.clusterName).caEscrow;
    const text = await readCaEscrow([this.deps.localUrl], tls, key, CALL_TIMEOUT_MS);
    if (text === undefined) {
      await this.sealEscrow(ca.material, tls, 'the escrow was not in etcd');
      this.escrowCheckedAt = Date.now();
      return;
    }
    this.escrow = 'present';
    this.escrowCheckedAt = Date.now();
    try {
      const record = parseEscrowRecord(text);
      if (fingerprintOf(record.caCertificate) !== fingerprintOf(ca.material.certPem)) throw EscrowForeign(`the CA key escrow (${key})`);
      openEscrowRecord(record, this.deps.token, this.deps.clusterName);
    } catch (err) {
      // Not overwritten: it may be an operator's doing (a CA rotation); the other members then cannot take over.
      this.deps.logger.warn({ component: 'ca', etcdKey: key, reason: describeError(err) }, 'the CA key escrow in etcd is not this CA under this token; members cannot take over the CA role from it');
    }
  }
}
