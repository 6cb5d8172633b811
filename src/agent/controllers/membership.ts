import type { EtcdMember, EtcdTls } from '../../etcd/client.js';
import { addMember, caughtUp, learnerProgress, promoteMember, removeMember } from '../../etcd/members.js';
import {
  appendOp,
  deleteAdmitted,
  deleteJoin,
  ensureSize,
  putAdmitted,
  putNode,
  withMembershipLock,
  withRecords,
  type ClusterRecords,
  type EtcdTarget,
  type OpKind,
} from '../../etcd/records.js';
import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { AgentConfig } from '../config/types.js';
import { clientUrl } from '../files/etcd-files.js';
import type { Candidate } from '../peer/protocol.js';
import type { MembershipStatus } from '../status/model.js';
import type { ClusterObservation } from './cluster-health.js';
import type { Controller } from './controller.js';
import { planMembership, type LearnerState, type MembershipPlan, type PlanAction, type PlanMember, type PlanRule } from './membership-plan.js';

export const MEMBERSHIP_INTERVAL_MS = 1000;
/**
 * Between rounds while nothing is going on (no joiner, no learner, every
 * member healthy, as many voters as wanted). Each round dials etcd (a TLS
 * handshake and a gRPC channel); at 1 s on every member that was most of an
 * idle agent's CPU. A join request recorded here, or any change in the health
 * controller's view, brings the 1 s pace back at once.
 */
export const MEMBERSHIP_QUIET_INTERVAL_MS = 5_000;
const READ_TIMEOUT_MS = 3000;
const OP_TIMEOUT_MS = 5000;
const PROGRESS_TIMEOUT_MS = 2000;
/** The lock's lease outlives the work done under it (its client's deadline). */
const LOCK_TTL_SECONDS = 20;
const LOCK_DEADLINE_MS = 15_000;

export interface MembershipDeps {
  config: AgentConfig;
  logger: Logger;
  /** This node as a candidate (its `nodes/<name>` record). */
  self: () => Candidate;
  /** The node's admin client certificate. */
  tls: () => EtcdTls;
  localUrl: string;
  /** The health controller's last look (members, health, leader). */
  observation: () => ClusterObservation | undefined;
  /** Number of initial members, on a node that formed the cluster (writes `size` if absent). */
  initialSize: () => number | undefined;
  /** Name of the member that holds the CA (never removed by a scale-down). */
  caHolderName: () => string | undefined;
  /** Called before every removal (the snapshots controller's `snapshotNow`). */
  beforeRemoval?: (reason: string) => Promise<void>;
  /** Rules that take precedence over the join rules (dead members, reinstalls, wiped data dirs). */
  rules?: readonly PlanRule[];
}

interface Progress {
  firstSeen: number;
  lastIndex: bigint | null;
  progressAt: number;
}

/**
 * The membership controller, on every formed member. Each round it reads the
 * agents' records in etcd, keeps its own `nodes/<name>` record current,
 * writes the wanted size at formation, and — on a voter — plans one action
 * (membership-plan.ts). When there is one, it takes `locks/membership`,
 * looks again under the lock, and does the action: add the next joiner as a
 * learner, promote a learner that runs and has caught up, remove a learner
 * that timed out, remove a voter above the wanted size. Every operation is
 * logged with its reason and appended to the `ops` record.
 */
export class MembershipController implements Controller {
  readonly name = 'membership';
  readonly intervalMs = MEMBERSHIP_INTERVAL_MS;

  private records: ClusterRecords | undefined;
  private plan: MembershipPlan | undefined;
  private planAt = 0;
  private observedAt = 0;
  private members: EtcdMember[] = [];
  private readonly progress = new Map<string, Progress>();
  /** Promoted since the last health look: healthy (it was caught up). */
  private readonly promoted = new Set<string>();
  private readonly counts = new Map<string, number>();
  private lockHolder: string | undefined;
  private lastFailure: string | undefined;
  private memberSignature = '';
  private lastChangeAt: number | undefined;
  /** No round before this time unless something changes (see MEMBERSHIP_QUIET_INTERVAL_MS). */
  private quietUntil = 0;
  private quietView = '';

  constructor(private readonly deps: MembershipDeps) {}

  /** Something may need membership's attention (a join request arrived): the next round runs at the 1 s pace. */
  lookSoon(): void {
    this.quietUntil = 0;
  }

  private get cluster(): string {
    return this.deps.config.cluster.name;
  }

  /** Where to read and write: the local member when it votes, else the voters (a learner serves no linearizable request). */
  private target(timeoutMs: number): EtcdTarget {
    const obs = this.deps.observation();
    const local = obs?.members.find((m) => m.id === obs.localMemberId);
    const endpoints = local && !local.isLearner
      ? [this.deps.localUrl]
      : (obs?.members ?? []).filter((m) => !m.isLearner && m.id !== obs?.localMemberId).flatMap((m) => m.clientUrls.slice(0, 1));
    return { endpoints: endpoints.length > 0 ? endpoints : [this.deps.localUrl], tls: this.deps.tls(), timeoutMs };
  }

  async reconcile(): Promise<void> {
    const obs = this.deps.observation();
    if (!obs?.localMemberId) return;
    // Quiet: skip the round while the health controller's view is the one the quiet round saw.
    if (Date.now() < this.quietUntil && viewOf(obs) === this.quietView) return;
    this.quietUntil = 0;
    await this.round(obs);
    if (this.quiet(obs)) {
      this.quietUntil = Date.now() + MEMBERSHIP_QUIET_INTERVAL_MS;
      this.quietView = viewOf(obs);
    }
  }

  /** Nothing to watch closely: no joiner or admission in etcd, no learner, everyone healthy, voters as wanted, no action planned. */
  private quiet(obs: ClusterObservation): boolean {
    const r = this.records;
    if (!r || r.joins.length > 0 || r.admitted.length > 0 || r.size === undefined) return false;
    if (this.plan?.action.kind !== 'none') return false;
    if (obs.members.some((m) => m.isLearner || !m.healthy)) return false;
    return obs.members.length === r.size && this.members.length === r.size;
  }

  private async round(obs: ClusterObservation): Promise<void> {
    const local = obs.members.find((m) => m.id === obs.localMemberId);
    const target = this.target(READ_TIMEOUT_MS);
    const isVoter = Boolean(local && !local.isLearner);
    // One connection for the round's reads: the records, and (on a voter) the member list.
    const round = await withRecords(target, this.cluster, async (s) => ({ records: await s.read(), listed: isVoter ? await s.members() : undefined }));
    let records = round.records;
    const initial = this.deps.initialSize();
    if (records.size === undefined && initial !== undefined) {
      records = { ...records, size: await ensureSize(target, this.cluster, initial) };
      this.deps.logger.info({ component: 'membership', size: records.size }, 'wanted size recorded in etcd');
    }
    await this.keepNodeRecord(target, records);
    this.records = records;
    this.lockHolder = records.lockHolder;
    this.observedAt = Date.now();
    const listed = round.listed;
    if (!listed) {
      this.members = obs.members;
      return this.decided({ kind: 'none', reason: 'this member is a learner: the voters handle membership' });
    }
    this.members = listed.members;
    if (records.size === undefined) return this.decided({ kind: 'none', reason: 'the wanted size is not in etcd yet' });

    const first = await this.planFor(records, listed.members);
    if (first.action.kind === 'none') return this.settle(first);

    const outcome = await withMembershipLock(
      { endpoints: [this.deps.localUrl], tls: this.deps.tls(), timeoutMs: LOCK_DEADLINE_MS },
      this.cluster,
      `${this.deps.self().name} (${this.deps.self().nodeId})`,
      LOCK_TTL_SECONDS,
      async () => {
        // Under the lock, look again: another member may have acted since.
        const { fresh, now } = await withRecords(target, this.cluster, async (s) => ({ fresh: await s.read(), now: await s.members() }));
        const plan = await this.planFor(fresh, now.members);
        this.records = fresh;
        this.members = now.members;
        this.settle(plan);
        await this.execute(plan.action);
      },
      // The controller runs one round at a time, and one agent runs per node (its state-dir lock).
      { reclaimOwn: true },
    );
    if (!outcome.acquired) {
      this.lockHolder = outcome.holder;
      this.settle(first, `another member holds the membership lock${outcome.holder ? ` (${outcome.holder})` : ''}; it acts`);
    }
  }

  private decided(action: PlanAction): void {
    this.settle({ action, answers: new Map(), voters: this.members.filter((m) => !m.isLearner).length, learners: this.members.filter((m) => m.isLearner).length });
  }

  private settle(plan: MembershipPlan, note?: string): void {
    const changed = !this.plan || this.plan.action.kind !== plan.action.kind || this.plan.action.reason !== plan.action.reason;
    this.plan = note ? { ...plan, action: { kind: 'none', reason: note } } : plan;
    this.planAt = Date.now();
    if (changed) this.deps.logger.debug({ component: 'membership', action: this.plan.action.kind, reason: this.plan.action.reason }, 'membership plan');
  }

  /** Measures the learners, then asks the planner. */
  private async planFor(records: ClusterRecords, members: EtcdMember[]): Promise<MembershipPlan> {
    const obs = this.deps.observation();
    const now = Date.now();
    // When the member list last changed, by this node's clock (a restarted agent does not know: it counts from now).
    const signature = members.map((m) => `${m.id}:${m.isLearner ? 'L' : 'V'}`).sort().join(',');
    if (signature !== this.memberSignature) {
      this.memberSignature = signature;
      this.lastChangeAt = now;
    }
    const health = new Map((obs?.members ?? []).map((m) => [m.id, m.healthy]));
    const leader = members.find((m) => m.id === obs?.leaderId)?.clientUrls[0];
    const learners: LearnerState[] = [];
    for (const m of members.filter((x) => x.isLearner)) {
      const admitted = records.admitted.find((a) => a.memberId === m.id);
      const urls = [...m.clientUrls];
      if (admitted) urls.push(clientUrl(admitted.candidate.address, admitted.candidate.etcdClientPort));
      const p = await learnerProgress([...new Set(urls)], leader, this.deps.tls(), PROGRESS_TIMEOUT_MS);
      const seen = this.progress.get(m.id) ?? { firstSeen: now, lastIndex: null, progressAt: now };
      if (p.index !== null && (seen.lastIndex === null || p.index > seen.lastIndex)) {
        seen.progressAt = now;
        seen.lastIndex = p.index;
      }
      this.progress.set(m.id, seen);
      const admittedAt = admitted ? Date.parse(admitted.admittedAt) : Number.NaN;
      const since = Number.isFinite(admittedAt) ? Math.min(admittedAt, seen.firstSeen) : seen.firstSeen;
      // Progress before it was first seen by this controller is unknown: the clock starts at `since` at the earliest.
      learners.push({ memberId: m.id, since, progressAt: seen.lastIndex === null ? since : Math.max(since, seen.progressAt), started: p.started, caughtUp: caughtUp(p), detail: p.detail });
      health.set(m.id, p.started && p.connected);
    }
    for (const id of this.progress.keys()) if (!members.some((m) => m.id === id && m.isLearner)) this.progress.delete(id);
    for (const id of this.promoted) if (obs?.members.some((m) => m.id === id && !m.isLearner)) this.promoted.delete(id);

    const planMembers: PlanMember[] = members.map((m) => ({
      id: m.id,
      name: m.name,
      peerUrls: m.peerUrls,
      isLearner: m.isLearner,
      healthy: health.get(m.id) ?? this.promoted.has(m.id),
    }));
    const holderName = this.deps.caHolderName();
    const protectedIds = members
      .filter((m) => m.id === obs?.localMemberId || m.id === obs?.leaderId || (holderName !== undefined && m.name === holderName))
      .map((m) => m.id);
    return planMembership(
      {
        now,
        wantedSize: records.size ?? members.filter((m) => !m.isLearner).length,
        members: planMembers,
        learners,
        joins: records.joins,
        admitted: records.admitted,
        learnerTimeoutMs: this.deps.config.membership.learnerTimeoutMs,
        protectedIds,
        ...(this.lastChangeAt !== undefined ? { lastChangeAt: this.lastChangeAt } : {}),
      },
      this.deps.rules,
    );
  }

  private async execute(action: PlanAction): Promise<void> {
    const target = { endpoints: [this.deps.localUrl], tls: this.deps.tls(), timeoutMs: OP_TIMEOUT_MS };
    const local = [this.deps.localUrl];
    const tls = this.deps.tls();
    switch (action.kind) {
      case 'none':
        return;
      case 'add-learner':
        return this.operation('add-learner', action.joiner.candidate.name, action.reason, target, async () => {
          const added = await addMember(local, tls, [action.peerUrl], true, OP_TIMEOUT_MS);
          await putAdmitted(target, this.cluster, { candidate: action.joiner.candidate, memberId: added.memberId, admittedAt: new Date().toISOString(), reason: action.joiner.reason });
          // Its place in the queue is used up: should its learner be removed, it asks again at the back.
          await deleteJoin(target, this.cluster, action.joiner.candidate.nodeId);
          return `learner ${added.memberId}`;
        });
      case 'record-admitted':
        await putAdmitted(target, this.cluster, { candidate: action.joiner.candidate, memberId: action.memberId, admittedAt: new Date().toISOString(), reason: action.joiner.reason });
        this.deps.logger.info({ component: 'membership', memberId: action.memberId, name: action.joiner.candidate.name, reason: action.reason }, 'admission recorded');
        return;
      case 'promote':
        return this.operation('promote', action.name, action.reason, target, async () => {
          await promoteMember(local, tls, action.memberId, OP_TIMEOUT_MS);
          this.promoted.add(action.memberId);
          if (action.nodeId) {
            await deleteAdmitted(target, this.cluster, action.nodeId);
            await deleteJoin(target, this.cluster, action.nodeId);
          }
          return `member ${action.memberId}`;
        });
      case 'remove-learner':
      case 'remove-voter':
        return this.operation('remove', action.name, action.reason, target, async () => {
          await this.deps.beforeRemoval?.(action.reason);
          await removeMember(local, tls, action.memberId, OP_TIMEOUT_MS);
          if (action.kind === 'remove-learner' && action.nodeId) {
            await deleteAdmitted(target, this.cluster, action.nodeId);
            // A joiner still alive asks again and queues at the back; one that is gone leaves no place behind.
            await deleteJoin(target, this.cluster, action.nodeId);
          }
          return `member ${action.memberId}`;
        });
      case 'forget-admitted':
        await deleteAdmitted(target, this.cluster, action.nodeId);
        this.deps.logger.info({ component: 'membership', nodeId: action.nodeId, name: action.name, reason: action.reason }, 'admission record removed');
        return;
    }
  }

  /** Does one operation, logs it with its reason, counts it, and appends it to `ops` (a repeated failure once). */
  private async operation(op: OpKind, name: string, reason: string, target: EtcdTarget, fn: () => Promise<string>): Promise<void> {
    const by = this.deps.self().name;
    try {
      const what = await fn();
      this.count(op, 'ok');
      this.lastFailure = undefined;
      this.deps.logger.info({ component: 'membership', op, target: name, member: what, reason, result: 'ok' }, 'membership operation');
      await appendOp(target, this.cluster, { op, target: name, reason, result: 'ok', at: new Date().toISOString(), by });
    } catch (err) {
      const why = describeError(err);
      this.count(op, 'failed');
      this.deps.logger.warn({ component: 'membership', op, target: name, reason, result: 'failed', err: why }, 'membership operation failed');
      const key = `${op} ${name} ${why}`;
      const last = this.records?.ops.at(-1);
      const logged = last !== undefined && last.op === op && last.target === name && last.result.startsWith('failed');
      if (key !== this.lastFailure && !logged) {
        this.lastFailure = key;
        await appendOp(target, this.cluster, { op, target: name, reason, result: `failed: ${why.slice(0, 500)}`, at: new Date().toISOString(), by }).catch(() => undefined);
      }
      throw err;
    }
  }

  private count(op: OpKind, result: 'ok' | 'failed'): void {
    const key = `${op}|${result}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Keeps `nodes/<name>` equal to what this agent is (written when missing or different). */
  private async keepNodeRecord(target: EtcdTarget, records: ClusterRecords): Promise<void> {
    const self = this.deps.self();
    const have = records.nodes.find((n) => n.name === self.name);
    const same = have && have.nodeId === self.nodeId && have.address === self.address && have.peerApiPort === self.peerApiPort && have.etcdPeerPort === self.etcdPeerPort && have.etcdClientPort === self.etcdClientPort;
    if (same) return;
    await putNode(target, this.cluster, { ...self, updatedAt: new Date().toISOString() });
    this.deps.logger.info({ component: 'membership', name: self.name }, 'node record written');
  }

  /** The wanted size in etcd, as last read. */
  wantedSize(): number | undefined {
    return this.records?.size;
  }

  /** For the join route: the last answers and learners' state. */
  lastPlan(): MembershipPlan | undefined {
    return this.plan;
  }

  status(): MembershipStatus {
    const r = this.records;
    const configured = this.deps.config.cluster.size;
    const wanted = r?.size ?? null;
    const answers = this.plan?.answers ?? new Map();
    const counts = [...this.counts].map(([k, count]) => {
      const [op = '', result = 'ok'] = k.split('|');
      return { op, result: result === 'failed' ? ('failed' as const) : ('ok' as const), count };
    });
    const queue = (r?.joins ?? [])
      .slice()
      .sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0))
      .map((j) => {
        const answer = answers.get(j.candidate.nodeId);
        return {
          nodeId: j.candidate.nodeId,
          name: j.candidate.name,
          address: j.candidate.address,
          reason: j.reason,
          since: j.since,
          state: answer?.state ?? 'queued',
          answer: answer?.reason ?? 'not planned yet',
        };
      });
    return {
      wantedSize: wanted,
      configuredSize: configured,
      sizeNote:
        wanted !== null && wanted !== configured
          ? `cluster.size in this node's config is ${configured}, but the cluster's wanted size (in etcd) is ${wanted}; the wanted size rules (change it with \`etcd-agent cluster resize N\`)`
          : null,
      voters: this.members.filter((m) => !m.isLearner).length,
      learners: this.members.filter((m) => m.isLearner).length,
      queue,
      ops: r?.ops ?? [],
      plan: this.plan ? { action: this.plan.action.kind, reason: this.plan.action.reason, at: new Date(this.planAt).toISOString() } : null,
      lockHolder: this.lockHolder ?? null,
      counts,
      observedAt: this.observedAt ? new Date(this.observedAt).toISOString() : null,
      problems: r?.problems ?? [],
    };
  }
}

/** What the quiet pace compares: members, their roles and health, and the leader. */
function viewOf(obs: ClusterObservation): string {
  return `${obs.leaderId ?? ''}|${obs.members.map((m) => `${m.id}:${m.isLearner ? 'L' : 'V'}:${m.healthy ? 1 : 0}`).sort().join(',')}`;
}
