import type { PeerSet } from '../../discovery/index.js';
import { describeError } from '../../util/errors.js';
import type { PeerClient } from '../peer/client.js';
import { viewResponseSchema, type Candidate, type ViewReport } from '../peer/protocol.js';
import type { PeerTracker } from '../peer/tracker.js';
import { decide, propose, type Decision, type Proposal } from './election.js';

export interface ElectionRound {
  proposal: Proposal;
  decision: Decision;
  /** What discovery and the hellos could not reach, for the phase reason. */
  problems: string[];
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
  return { proposal, decision: decide(self, proposal, reports), problems: [...tracker.problems(), ...peerSet.problems()] };
}
