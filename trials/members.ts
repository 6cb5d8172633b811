/**
 * Waiting for a membership as every node's own etcd lists it (member list),
 * and the "ready and members as wanted" recovery of the day-2 trials.
 */
import { parseEtcdJson } from '../test/helpers/cluster-checks.js';
import type { TrialNode } from './access.js';
import { waitAllReady, type Recovery } from './invariants.js';
import { sleep } from './rng.js';

export interface Listed {
  /** Empty for a member added but not started yet. */
  name: string;
  isLearner: boolean;
}

/**
 * Waits (bounded, from `from`) until `accept` holds for the member list of
 * every node's own etcd; the detail says what each node saw last.
 */
export async function waitMembers(nodes: TrialNode[], accept: (members: Listed[]) => boolean, what: string, from: number, boundMs: number): Promise<Recovery> {
  const deadline = from + boundMs;
  for (;;) {
    const views = await Promise.all(
      nodes.map(async (n) => {
        const r = await n.etcdctl(['member', 'list', '-w', 'json']);
        if (r.code !== 0) return { ok: false, text: `${n.name}: member list failed` };
        const members = (parseEtcdJson<{ members?: { name: string; isLearner?: boolean }[] }>(r.stdout).members ?? []).map((m) => ({ name: m.name, isLearner: Boolean(m.isLearner) }));
        const names = members.map((m) => `${m.name || '(unstarted)'}${m.isLearner ? ' (learner)' : ''}`);
        return { ok: accept(members), text: `${n.name}: ${names.join(',')}` };
      }),
    );
    const detail = views.map((v) => v.text).join('; ');
    if (views.every((v) => v.ok)) return { ms: Date.now() - from, detail };
    if (Date.now() > deadline) return { ms: null, detail: `not ${what} within ${boundMs} ms: ${detail}` };
    await sleep(500);
  }
}

/** `count` started voters, no learner. */
export const votersOnly = (count: number) => (members: Listed[]): boolean => members.length === count && members.every((m) => !m.isLearner && m.name !== '');

/**
 * Recovery of a day-2 trial: every node ready (waitAllReady) and then every
 * node's etcd listing what `accept` wants; both measured from `from`, the
 * recovery is the later of the two. `membersMs` is null when the members
 * never got there.
 */
export async function waitReadyAndMembers(nodes: TrialNode[], accept: (members: Listed[]) => boolean, what: string, from: number, boundMs: number): Promise<Recovery & { membersMs: number | null }> {
  const ready = await waitAllReady(nodes, from, boundMs);
  const members = await waitMembers(nodes, accept, what, from, boundMs);
  if (ready.ms === null || members.ms === null) {
    return { ms: null, membersMs: members.ms, detail: `${ready.ms === null ? ready.detail : ''} ${members.ms === null ? members.detail : ''}`.trim() };
  }
  return { ms: Math.max(ready.ms, members.ms), membersMs: members.ms, detail: `${ready.detail}; members: ${members.detail}` };
}
