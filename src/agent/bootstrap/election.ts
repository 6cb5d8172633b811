/**
 * Choosing the initial members and the CA holder (DESIGN.md, step 4). Pure
 * functions over what the agent has observed, so the protocol can be tested
 * over simulated peer sets without a network.
 *
 * Safety argument in short: a view is committed only when every one of its
 * `size` members reports exactly that view; a committed view is persisted and
 * reported forever after, and a member that sees a committed view containing
 * itself adopts it. Two different views can therefore only both commit if
 * they share no member, which requires agents that cannot see each other at
 * all — the README asks operators to give every agent the same seeds (or one
 * mDNS segment) for that reason.
 */

import type { Candidate, View, ViewReport } from '../peer/protocol.js';

export type Proposal =
  | { kind: 'waiting'; have: number; need: number }
  | { kind: 'spare'; view: View }
  | { kind: 'member'; view: View };

export type Decision =
  | { kind: 'commit'; view: View }
  | { kind: 'adopt'; view: View; from: string }
  | { kind: 'spare'; reason: string }
  | { kind: 'join'; reason: string }
  | { kind: 'wait'; reason: string };

/** The lowest id of a view holds the CA. */
export function caHolderOf(view: View): Candidate {
  const holder = sortView(view)[0];
  if (!holder) throw new Error('empty view has no CA holder');
  return holder;
}

export function sortView(view: View): View {
  return [...view].sort((a, b) => compareIds(a.nodeId, b.nodeId));
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Canonical text of a view: equal views have equal keys. */
export function viewKey(view: View): string {
  return sortView(view)
    .map((c) => [c.nodeId, c.name, c.address, c.peerApiPort, c.etcdPeerPort, c.etcdClientPort].join('|'))
    .join(',');
}

export function sameView(a: View | null, b: View | null): boolean {
  return a !== null && b !== null && viewKey(a) === viewKey(b);
}

export function inView(view: View, nodeId: string): boolean {
  return view.some((c) => c.nodeId === nodeId);
}

/**
 * The view this agent would propose: the `size` lowest node ids among itself
 * and the fresh agents it has authenticated.
 */
export function propose(self: Candidate, authenticated: Candidate[], size: number): Proposal {
  const byId = new Map<string, Candidate>();
  byId.set(self.nodeId, self);
  for (const c of authenticated) if (!byId.has(c.nodeId)) byId.set(c.nodeId, c);
  const all = sortView([...byId.values()]);
  if (all.length < size) return { kind: 'waiting', have: all.length, need: size };
  const view = all.slice(0, size);
  return inView(view, self.nodeId) ? { kind: 'member', view } : { kind: 'spare', view };
}

/**
 * Decide what to do given our proposal and the reports of the peers we asked.
 * `reports` maps node id to the report, or to an error string when the peer
 * could not be asked this round.
 */
export function decide(
  self: Candidate,
  proposal: Proposal,
  reports: ReadonlyMap<string, ViewReport | string>,
): Decision {
  for (const [id, report] of reports) {
    if (typeof report === 'string') continue;
    if (report.formed) {
      return { kind: 'join', reason: `agent ${id} belongs to a cluster that has already formed` };
    }
  }
  for (const [id, report] of reports) {
    if (typeof report === 'string' || report.committed === null) continue;
    if (inView(report.committed, self.nodeId)) return { kind: 'adopt', view: report.committed, from: id };
  }
  for (const [id, report] of reports) {
    if (typeof report === 'string' || report.committed === null) continue;
    if (!inView(report.committed, self.nodeId)) {
      return { kind: 'spare', reason: `agent ${id} already committed to initial members without this node` };
    }
  }

  if (proposal.kind === 'waiting') {
    return { kind: 'wait', reason: `waiting for peers: ${proposal.have} of ${proposal.need} agents authenticated (this one included)` };
  }
  if (proposal.kind === 'spare') {
    return {
      kind: 'spare',
      reason: `spare: the ${proposal.view.length} lowest node ids form the cluster and this node is not among them`,
    };
  }

  const conflict = viewConflict(proposal.view);
  if (conflict) return { kind: 'wait', reason: `not agreeing on initial members: ${conflict}` };

  const pending: string[] = [];
  const disagreeing: string[] = [];
  for (const member of proposal.view) {
    if (member.nodeId === self.nodeId) continue;
    const report = reports.get(member.nodeId);
    if (report === undefined) pending.push(`${member.name} not asked yet`);
    else if (typeof report === 'string') pending.push(`${member.name}: ${report}`);
    else if (!sameView(report.proposed, proposal.view)) disagreeing.push(member.name);
  }
  if (pending.length > 0 || disagreeing.length > 0) {
    const parts: string[] = [];
    if (disagreeing.length > 0) parts.push(`${disagreeing.join(', ')} still see a different set of agents`);
    if (pending.length > 0) parts.push(pending.join('; '));
    return { kind: 'wait', reason: `agreeing on initial members: ${parts.join('; ')}` };
  }
  return { kind: 'commit', view: proposal.view };
}

/**
 * Two agents under one name or one address would make etcd refuse to start
 * (or worse, one certificate serve two nodes): such a view is never committed,
 * and the reason names both, so the operator can fix the duplicate host.
 */
export function viewConflict(view: View): string | undefined {
  for (const key of ['name', 'address'] as const) {
    const seen = new Map<string, Candidate>();
    for (const c of view) {
      const other = seen.get(c[key]);
      if (other) return `agents ${other.nodeId} and ${c.nodeId} both claim the ${key} "${c[key]}"; give each host a unique ${key}`;
      seen.set(c[key], c);
    }
  }
  return undefined;
}
