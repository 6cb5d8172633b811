import type { PeerSet } from '../../discovery/index.js';
import { describeError } from '../../util/errors.js';
import type { PeerClient } from '../peer/client.js';
import { viewResponseSchema, type Candidate, type View, type ViewReport } from '../peer/protocol.js';
import type { PeerTracker } from '../peer/tracker.js';
import { decide, propose, type Decision, type Proposal } from './election.js';

export interface ElectionRound {
  proposal: Proposal;
  decision: Decision;
  /** The view to persist and act on, when the round agreed on one. */
  commit: View | undefined;
  /** Where this leaves the node, in words (when nothing was committed). */
  phase: 'discovering' | 'electing' | 'spare' | 'joining';
  reason: string;
}

/**
 * One round of discovery and agreement: refresh the peer set, say hello to
 * who is due, propose a view, ask every authenticated peer for its view, and
 * decide (election.ts). Only the conductor acts on the decision.
 */
export async function electionRound(
  self: Candidate,
  size: number,
  parts: { peerSet: PeerSet; tracker: PeerTracker; client: PeerClient },
): Promise<ElectionRound> {
  const { peerSet, tracker, client } = parts;
  await peerSet.refresh();
  await tracker.round(peerSet.endpoints());
  const proposal = propose(self, tracker.candidates(), size);
  const reports = new Map<string, ViewReport | string>();
  await Promise.all(
    tracker.peers().map(async (peer) => {
      const endpoint = tracker.endpointFor(peer.nodeId);
      if (!endpoint) return;
      try {
        reports.set(peer.nodeId, await client.call<ViewReport>(endpoint, 'GET', '/v1/view', undefined, viewResponseSchema));
      } catch (err) {
        reports.set(peer.nodeId, describeError(err));
      }
    }),
  );
  const decision = decide(self, proposal, reports);
  return { proposal, decision, ...outcome(decision, proposal, [...tracker.problems(), ...peerSet.problems()]) };
}

function outcome(decision: Decision, proposal: Proposal, problems: string[]): Pick<ElectionRound, 'commit' | 'phase' | 'reason'> {
  switch (decision.kind) {
    case 'commit':
    case 'adopt':
      return { commit: decision.view, phase: 'electing', reason: 'initial members agreed' };
    case 'wait':
      return { commit: undefined, phase: proposal.kind === 'waiting' ? 'discovering' : 'electing', reason: [decision.reason, ...problems].join('; ') };
    case 'spare':
      return { commit: undefined, phase: 'spare', reason: decision.reason };
    case 'join':
      return {
        commit: undefined,
        phase: 'joining',
        reason: `${decision.reason}; asking a member to join it`,
      };
  }
}
