import type { EtcdTls } from '../etcd/client.js';
import { describeError } from '../util/errors.js';
import type { Controller } from './controllers/controller.js';
import type { PlanRule } from './controllers/membership-plan.js';
import { askMembers, judgeMembership } from './controllers/removal-check.js';
import { repairRule } from './controllers/repair-rules.js';
import { inspectDataDir, readDataDirClaim } from './files/data-dir.js';
import { clientUrl, localClientUrl } from './files/etcd-files.js';
import { Rejoin } from './join/rejoin.js';
import { rejoinAnswerer } from './join/rejoin-server.js';
import { joinResponseSchema, type Candidate, type JoinResponse } from './peer/protocol.js';
import { candidateOf, endpointOfInfo } from './peer/tracker.js';
import type { AgentContext } from './wiring-context.js';

export interface RepairWiringDeps extends AgentContext {
  unhealthySince: () => ReadonlyMap<string, number>;
}

/** After this long without a healthy local member, the agent asks the others whether its member still exists. */
const REMOVAL_CHECK_AFTER_MS = 10_000;
const REMOVAL_CHECK_EVERY_MS = 5_000;

/**
 * The repair half of membership (issue 10), wired for the conductor: the
 * planner rule (dead members, same-name replacements), the /v1/join answer
 * for `wiped` and `removed`, the re-add flow of this node (rejoin.ts) with its
 * two triggers (a wiped data dir, found by the service controller; a removed
 * member, found by the removal check), and the step a fresh agent takes
 * before it asks to join when its data dir holds its own earlier data.
 */
export function createRepairParts(d: RepairWiringDeps) {
  const tls = (): EtcdTls => d.creds().adminTls();
  const rule: PlanRule = repairRule({
    unhealthySince: d.unhealthySince,
    localMemberId: () => d.observation()?.localMemberId ?? d.state.formed?.memberId,
    deadAfterMs: d.config.membership.deadAfterMs,
  });
  const otherReason = rejoinAnswerer({
    observation: d.observation,
    caHolder: () => d.state.caHolder(),
    learnerTimeoutMs: d.config.membership.learnerTimeoutMs,
    refused: d.refused,
  });

  /** Members' peer APIs this node may ask: authenticated formed peers first, then the initial members. */
  const askTargets = (): Candidate[] => {
    const self = d.state.selfInfo();
    const seen = new Map<string, Candidate>();
    for (const p of d.tracker().peers()) if (p.stage === 'formed') seen.set(p.nodeId, candidateOf(p));
    for (const m of d.state.committed?.view ?? d.state.enrollment?.view ?? []) if (!seen.has(m.nodeId)) seen.set(m.nodeId, m);
    seen.delete(self.nodeId);
    return [...seen.values()].filter((c) => c.name !== self.name);
  };
  let preferred: string | undefined;
  const ask = async (reason: 'wiped' | 'removed'): Promise<{ answer: JoinResponse; from: string }> => {
    const targets = askTargets().sort((a, b) => (a.nodeId === preferred ? -1 : b.nodeId === preferred ? 1 : 0));
    const problems: string[] = [];
    const candidate = candidateOf(d.state.selfInfo());
    for (const target of targets) {
      try {
        const answer = await d.client().call<JoinResponse>(endpointOfInfo(target), 'POST', '/v1/join', { candidate, reason }, joinResponseSchema);
        preferred = target.nodeId;
        return { answer, from: target.name };
      } catch (err) {
        problems.push(`${target.name}: ${describeError(err)}`);
      }
    }
    preferred = undefined;
    throw new Error(`no member answered this node's request to be re-added: ${problems.join('; ') || 'no member known to ask'}`);
  };

  const rejoin = new Rejoin({
    logger: d.logger,
    store: d.store,
    stopEtcd: () => d.etcd.manager.stop(),
    dataDir: d.config.etcd.dataDir,
    formed: () => {
      const f = d.state.formed;
      if (!f) throw new Error('not formed');
      return { clusterId: f.clusterId, memberId: f.memberId };
    },
    ask,
    apply: async (admission) => {
      const { enrollment, formed } = d.state;
      if (!enrollment || !formed) throw new Error('a node re-added to its cluster has an enrollment and a formed marker');
      // etcd.conf: `existing` with the admission's member list; the claim is reset, so the next start claims the empty data dir.
      const next = { ...enrollment, joined: admission };
      delete next.dataDirClaimedAt;
      await d.store.saveEnrollment(next);
      d.state.enrollment = next;
      const marker = { ...formed, memberId: admission.memberId };
      await d.store.saveFormed(marker);
      d.state.formed = marker;
    },
    say: d.say,
    wake: d.wake,
  });

  /** Learned while the local member was healthy: where the other members' etcd answers. */
  const known = new Set<string>();
  let unhealthyFrom: number | undefined;
  let lastCheck = 0;
  const removalCheck: Controller = {
    name: 'removal-check',
    intervalMs: 1000,
    async reconcile() {
      const formed = d.state.formed;
      const obs = d.observation();
      if (!formed || rejoin.active()) return;
      const own = localClientUrl(d.config);
      for (const m of obs?.members ?? []) for (const u of m.clientUrls) if (u !== own) known.add(u);
      if (obs?.localHealthy || obs?.members.some((m) => m.id === formed.memberId && m.isLearner)) {
        unhealthyFrom = undefined;
        return;
      }
      const now = Date.now();
      unhealthyFrom ??= now;
      if (now - unhealthyFrom < REMOVAL_CHECK_AFTER_MS || now - lastCheck < REMOVAL_CHECK_EVERY_MS) return;
      lastCheck = now;
      const urls = new Set(known);
      for (const m of d.state.enrollment?.view ?? []) urls.add(clientUrl(m.address, m.etcdClientPort));
      for (const u of d.state.enrollment?.joined?.clientUrls ?? []) urls.add(u);
      urls.delete(own);
      const verdict = judgeMembership({ memberId: formed.memberId, clusterId: formed.clusterId }, await askMembers([...urls], tls()));
      if (verdict.kind === 'removed') await rejoin.begin('removed', verdict.reason);
      else if (verdict.kind === 'unknown') d.logger.debug({ component: 'membership', reason: verdict.reason }, 'local member unhealthy; membership unknown');
    },
  };

  let earlierDataChecked = false;
  /**
   * A fresh agent about to ask to join, whose data dir holds data this node
   * name claimed for this cluster before (its state dir was lost): its old
   * etcd must not run, or its member would look healthy and the name would be
   * refused. The data itself is moved aside when the admission is applied.
   */
  const beforeJoin = async (): Promise<void> => {
    if (earlierDataChecked || d.state.enrollment) return;
    earlierDataChecked = true;
    const dir = d.config.etcd.dataDir;
    if ((await inspectDataDir(dir)).kind !== 'data') return;
    const claim = await readDataDirClaim(dir);
    if (claim?.cluster !== d.config.cluster.name || claim.name !== d.config.node.name) return;
    try {
      await d.etcd.stopEarlier();
      d.logger.warn({ component: 'membership', dataDir: dir }, 'this node\'s earlier etcd data is in the data dir and its agent state is gone: its etcd is stopped; the data is moved aside once the cluster re-admits this node');
    } catch (err) {
      d.logger.info({ component: 'membership', err: describeError(err) }, 'no earlier etcd of this node to stop');
    }
  };

  return { rule, otherReason, rejoin, removalCheck, beforeJoin };
}

export type RepairParts = ReturnType<typeof createRepairParts>;
