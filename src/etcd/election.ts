/**
 * A long-lived etcd election session (etcd3's election API: a lease with a
 * short TTL, one key per candidate, the oldest key is the leader). Unlike the
 * one-call clients of client.ts, this one stays open while the agent runs,
 * so it is owned by one object and closed on stop; every unary call carries
 * a deadline, only the watch and keepalive streams are open-ended.
 *
 * Keys: `<electionKey>/holder/<lease id>` (etcd3 puts its candidates under
 * `election/<name>/` of a namespace), so `etcdctl elect -l
 * <electionKey>/holder` prints the leader's value as etcd's own tools see it.
 */
import type { Campaign, Election, Etcd3, IOptions, Namespace } from 'etcd3';
import { loadEtcd3, type Etcd3Lib } from './etcd3-module.js';
import { LeaderObserver } from './election-observer.js';
import { describeError } from '../util/errors.js';
import { withDeadline } from './deadline.js';
import type { EtcdTls } from './client.js';

export interface ElectionSessionOptions {
  /** Client URLs to use (the agent's own member). */
  endpoints: string[];
  tls: EtcdTls;
  /** clusterKeys(cluster).caElection: must end in "/election". */
  electionKey: string;
  ttlSeconds: number;
  /** Deadline of every unary call. */
  callTimeoutMs: number;
}

export interface CampaignHandlers {
  elected(): void;
  /** The campaign ended without a resign (lease lost, etcd error): campaign again later. */
  lost(reason: string): void;
}

const ELECTION_NAME = 'holder';

/** Where etcd3 puts the candidates of an election named ELECTION_NAME under `electionKey`. */
export function candidatePrefix(electionKey: string): string {
  return `${electionKey}/${ELECTION_NAME}/`;
}

export class ElectionSession {
  private readonly client: Etcd3;
  private readonly election: Election;
  private readonly candidates: Namespace;
  private current: { campaign: Campaign; elected: boolean } | undefined;
  private observer: LeaderObserver | undefined;
  private closed = false;

  /** Loads etcd3 on first use (see etcd3-module.ts) and opens the session's client. */
  static async open(options: ElectionSessionOptions): Promise<ElectionSession> {
    return new ElectionSession(options, await loadEtcd3());
  }

  private constructor(
    private readonly options: ElectionSessionOptions,
    lib: Etcd3Lib,
  ) {
    if (!options.electionKey.endsWith('/election')) throw new Error(`election key ${options.electionKey} must end in /election`);
    const parent = options.electionKey.slice(0, -'election'.length);
    const clientOptions: IOptions = {
      hosts: options.endpoints.map((e) => new URL(e).origin),
      credentials: {
        rootCertificate: Buffer.from(options.tls.caPem),
        privateKey: Buffer.from(options.tls.keyPem),
        certChain: Buffer.from(options.tls.certPem),
      },
      // Streams (watch, lease keepalive) live as long as the session; every other call is bounded.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: new Date(Date.now() + options.callTimeoutMs) }),
    };
    this.client = new lib.Etcd3(clientOptions);
    const ns = this.client.namespace(parent);
    this.election = ns.election(ELECTION_NAME, options.ttlSeconds);
    this.candidates = this.client.namespace(candidatePrefix(options.electionKey));
  }

  /** The TLS material the session was opened with (a renewed certificate needs a new session). */
  get tls(): EtcdTls {
    return this.options.tls;
  }

  /**
   * Starts watching who leads. `changed` gets the leader's value (undefined:
   * no leader). Resolves once the first answer came, or rejects after the call
   * timeout (the observer is then cancelled). `failed` is called when the
   * watch breaks for good; observe again later.
   */
  async observe(changed: (value: string | undefined) => void, failed: (reason: string) => void): Promise<void> {
    if (this.closed) throw new Error('the election session is closed');
    await this.cancelObserver();
    // Not etcd3's election.observe(): it can settle on a younger candidate than the leader (election-observer.ts).
    const observer = await LeaderObserver.start(this.candidates, { changed, failed }, this.options.callTimeoutMs);
    if (this.closed) {
      await observer.stop();
      return;
    }
    this.observer = observer;
  }

  /** An observer runs (one that failed has stopped: observe again). */
  observing(): boolean {
    return this.observer?.running() === true;
  }

  /** Puts `value` up as a candidate; the handlers say when it leads and when the campaign ends. */
  campaign(value: string, handlers: CampaignHandlers): void {
    if (this.closed || this.current) return;
    const campaign = this.election.campaign(value);
    const entry = { campaign, elected: false };
    this.current = entry;
    campaign.on('elected', () => {
      if (this.current !== entry) return;
      entry.elected = true;
      handlers.elected();
    });
    campaign.on('error', (err: Error) => {
      if (this.current !== entry) return;
      this.current = undefined;
      campaign.resign().catch(() => undefined);
      handlers.lost(describeError(err));
    });
  }

  campaigning(): boolean {
    return this.current !== undefined;
  }

  /** Elected, as far as this session knows without asking etcd (see confirmLeader). */
  elected(): boolean {
    return this.current?.elected === true;
  }

  /**
   * Asks etcd (a linearizable read, through the quorum) whether this
   * session's candidate key is the oldest one, that is whether it leads right
   * now. A lease that expired unnoticed has lost its key, so this says false.
   */
  async confirmLeader(): Promise<boolean> {
    const current = this.current;
    if (!current?.elected) return false;
    const own = await this.ownKey(current.campaign);
    const first = await this.candidates.getAll().sort('Create', 'Ascend').limit(1).keys();
    return first[0] === own;
  }

  /**
   * Revokes the leases of candidates (other than this session's) whose value
   * `isStale` says belongs to an earlier run of this same agent, so that the
   * role does not wait out their TTL. Returns how many.
   */
  async revokeStale(isStale: (value: string) => boolean): Promise<number> {
    const own = this.current ? await this.ownKey(this.current.campaign).catch(() => undefined) : undefined;
    const res = await this.candidates.getAll().exec();
    let revoked = 0;
    for (const kv of res.kvs) {
      if (kv.key.toString() === own || !isStale(kv.value.toString())) continue;
      await this.client.leaseClient.leaseRevoke({ ID: kv.lease });
      revoked++;
    }
    return revoked;
  }

  /** Gives up the candidacy (revoking its lease: a leader hands over at once). */
  async resign(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await withDeadline(current.campaign.resign(), this.options.callTimeoutMs, 'resigning the CA role');
  }

  /** Resigns, stops observing and closes the client; bounded, never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.resign().catch(() => undefined);
    await this.cancelObserver();
    this.client.close();
  }

  private async cancelObserver(): Promise<void> {
    const observer = this.observer;
    this.observer = undefined;
    if (observer) await withDeadline(observer.stop(), this.options.callTimeoutMs, 'closing the election observer').catch(() => undefined);
  }

  /** The candidate key within the candidates namespace (the lease id). */
  private async ownKey(campaign: Campaign): Promise<string> {
    const full = await withDeadline(campaign.getCampaignKey(), this.options.callTimeoutMs, 'granting the CA-role lease');
    return full.slice(candidatePrefix(this.options.electionKey).length);
  }
}
