/**
 * A formed member that must be re-added to its own cluster: its etcd data
 * dir was wiped (disk replaced, directory emptied), or its member was
 * removed while it was away (replaced while partitioned or powered off). It
 * never starts etcd on what it has — as `new` that would found a second
 * cluster (k3s#13623, rke2#2857), as `existing` under the old member id it
 * would crash on the raft log it lost (kops#9264, etcd-manager#288) — and it
 * never bootstraps. Instead:
 *
 * 1. etcd is stopped; a removed member's data is moved aside (renamed, never
 *    deleted); the reason is persisted (rejoin.json), so a restart resumes;
 * 2. it asks a member (POST /v1/join, reason `wiped` or `removed`, over its
 *    cluster certificate) until it is admitted: the membership controller
 *    removes its old member (if still listed) and adds it again as a learner
 *    under the same name — or it waits as a spare when the cluster is full;
 * 3. the admission (a member of OUR cluster id, or it is refused) is
 *    persisted, then applied: etcd.conf says `existing` with the admission's
 *    member list, the data dir claim is reset (the next start claims it
 *    empty), and the formed marker records the new member id;
 * 4. from there the service controller starts etcd as a learner and the
 *    voters promote it once it has caught up.
 */
import { defineError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { RejoinReason, RejoinRecord, StateStore } from '../bootstrap/state-store.js';
import { inspectDataDir, moveDataDirAside } from '../files/data-dir.js';
import type { JoinAdmission, JoinResponse } from '../peer/protocol.js';
import type { Phase } from '../status/phase.js';

export const RejoinOtherCluster = defineError(
  'EA_JOIN_OTHER_CLUSTER',
  (from: string, theirs: string, ours: string) =>
    `${from} admitted this node into cluster ${theirs}, but this node is a member of cluster ${ours}; the admission is not used (nothing is started) — check that every host of this cluster has the same cluster.name and join token, and that no other cluster's agents are among the seeds`,
);

export interface RejoinParts {
  logger: Logger;
  store: StateStore;
  /** Stops this node's etcd (it must not run as the old member). */
  stopEtcd: () => Promise<void>;
  dataDir: string;
  /** This node's formed marker: the cluster it belongs to and its member id. */
  formed: () => { clusterId: string; memberId: string };
  /** Asks a member of the cluster to be let in again (POST /v1/join with this reason). */
  ask: (reason: RejoinReason) => Promise<{ answer: JoinResponse; from: string }>;
  /** Writes the admission into the node's state: enrollment (etcd.conf, claim reset) and formed marker (new member id). */
  apply: (admission: JoinAdmission, reason: RejoinReason) => Promise<void>;
  say: (phase: Phase, reason: string) => void;
  wake: () => void;
}

export class Rejoin {
  private record: RejoinRecord | undefined;

  constructor(private readonly parts: RejoinParts) {}

  async load(): Promise<void> {
    this.record = await this.parts.store.rejoin();
  }

  active(): boolean {
    return this.record !== undefined;
  }

  current(): RejoinRecord | undefined {
    return this.record;
  }

  /** Stops etcd and records why this node must be re-added; the next steps ask for it. Idempotent. */
  async begin(reason: RejoinReason, detail: string): Promise<void> {
    if (this.record) return;
    await this.parts.stopEtcd();
    const record: RejoinRecord = { reason, detail, since: new Date().toISOString(), oldMemberId: this.parts.formed().memberId };
    await this.parts.store.saveRejoin(record);
    this.record = record;
    this.parts.logger.warn({ component: 'membership', reason, detail, memberId: record.oldMemberId }, 'this member must be re-added to its cluster; etcd stopped');
    this.parts.say('joining', `${words(reason)}: ${detail}; asking the cluster to re-add this node under its name`);
    await this.setDataAside(record);
    this.parts.wake();
  }

  /** One step: move a removed member's data aside, ask until admitted, then apply the admission. */
  async step(): Promise<void> {
    const record = this.record;
    if (!record) return;
    let admission = record.admission;
    if (!admission) {
      await this.setDataAside(record);
      const { answer, from } = await this.parts.ask(record.reason);
      if (answer.state !== 'admitted' || !answer.admission) {
        const phase: Phase = answer.state === 'spare' ? 'spare' : 'joining';
        this.parts.say(phase, `${words(record.reason)}; ${answer.state} (answer of ${from}): ${answer.reason}`);
        return;
      }
      const ours = this.parts.formed().clusterId;
      if (answer.admission.clusterId !== ours) throw RejoinOtherCluster(from, answer.admission.clusterId, ours);
      admission = answer.admission;
      record.admission = admission;
      record.admittedBy = from;
      await this.parts.store.saveRejoin(record);
    }
    await this.parts.apply(admission, record.reason);
    await this.parts.store.remove('rejoin.json');
    this.record = undefined;
    this.parts.logger.info(
      { component: 'membership', reason: record.reason, oldMemberId: record.oldMemberId, memberId: admission.memberId, clusterId: admission.clusterId, by: record.admittedBy },
      're-added to the cluster as a learner under the same name',
    );
    this.parts.say('formed', `re-added as learner ${admission.memberId} (was ${record.oldMemberId}, ${words(record.reason)}); starting etcd on an empty data dir`);
    this.parts.wake();
  }

  /** A removed member's data (or anything etcd left in a wiped dir) goes aside before the new member starts there. */
  private async setDataAside(record: RejoinRecord): Promise<void> {
    if ((await inspectDataDir(this.parts.dataDir)).kind !== 'data') return;
    const aside = await moveDataDirAside(this.parts.dataDir, record.reason);
    if (!aside) return;
    record.aside = aside;
    await this.parts.store.saveRejoin(record);
    this.parts.logger.warn({ component: 'membership', reason: record.reason, aside }, 'moved the old member\'s etcd data aside (kept, not deleted)');
  }
}

function words(reason: RejoinReason): string {
  return reason === 'wiped' ? 'the etcd data dir was wiped' : 'this node\'s member was removed from the cluster';
}
