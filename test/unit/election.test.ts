import t from 'tap';
import {
  caHolderOf,
  decide,
  propose,
  sameView,
  viewConflict,
  type Decision,
} from '../../src/agent/bootstrap/election.js';
import type { Candidate, View, ViewReport } from '../../src/agent/peer/protocol.js';

const node = (n: number): Candidate => ({
  nodeId: n.toString(16).padStart(32, '0'),
  name: `n${n}`,
  address: `127.0.0.${10 + n}`,
  peerApiPort: 2390,
  etcdPeerPort: 2380,
  etcdClientPort: 2379,
});

/**
 * A simulated world: each agent sees some others (authenticated), asks every
 * one it sees for its report, and persists what it commits. Rounds run in a
 * given order, so interleavings are explicit.
 */
class World {
  committed = new Map<string, View>();
  constructor(
    readonly size: number,
    readonly sees: Map<string, Candidate[]>,
  ) {}

  report(c: Candidate): ViewReport {
    const p = propose(c, this.sees.get(c.nodeId) ?? [], this.size);
    return {
      nodeId: c.nodeId,
      committed: this.committed.get(c.nodeId) ?? null,
      proposed: p.kind === 'waiting' ? null : p.view,
      formed: false,
    };
  }

  round(c: Candidate, unreachable: Set<string> = new Set()): Decision {
    const mine = this.committed.get(c.nodeId);
    if (mine) return { kind: 'commit', view: mine };
    const seen = this.sees.get(c.nodeId) ?? [];
    const reports = new Map<string, ViewReport | string>();
    for (const peer of seen) reports.set(peer.nodeId, unreachable.has(peer.nodeId) ? 'ECONNREFUSED' : this.report(peer));
    const d = decide(c, propose(c, seen, this.size), reports);
    if (d.kind === 'commit' || d.kind === 'adopt') this.committed.set(c.nodeId, d.view);
    return d;
  }
}

const everyoneSeesEveryone = (nodes: Candidate[]): Map<string, Candidate[]> =>
  new Map(nodes.map((n) => [n.nodeId, nodes.filter((o) => o !== n)]));

t.test('three agents that see each other agree on one view; lowest id holds the CA', async (t) => {
  const nodes = [node(3), node(1), node(2)];
  const world = new World(3, everyoneSeesEveryone(nodes));
  t.equal(world.round(nodes[0]!).kind, 'commit', 'the first to ask commits');
  for (const n of nodes.slice(1)) t.equal(world.round(n).kind, 'adopt', `${n.name} adopts the committed view`);
  const views = [...world.committed.values()];
  t.equal(views.length, 3);
  t.ok(views.every((v) => sameView(v, views[0]!)), 'identical views');
  t.equal(caHolderOf(views[0]!).name, 'n1');
});

t.test('waits with a count while fewer than size agents are authenticated', async (t) => {
  const d = decide(node(1), propose(node(1), [node(2)], 3), new Map());
  t.equal(d.kind, 'wait');
  t.match((d as { reason: string }).reason, /2 of 3 agents authenticated/);
});

t.test('an agent outside the lowest ids waits as a spare', async (t) => {
  const nodes = [node(1), node(2), node(3), node(4)];
  const world = new World(3, everyoneSeesEveryone(nodes));
  const d = world.round(node(4));
  t.equal(d.kind, 'spare');
  for (const n of nodes.slice(0, 3)) t.match(world.round(n).kind, /^(commit|adopt)$/);
  t.equal(world.committed.size, 3);
  t.notOk(world.committed.has(node(4).nodeId), 'the spare commits nothing');
  t.equal(world.round(node(4)).kind, 'spare', 'after the others committed it still waits as a spare');
});

t.test('disagreeing views do not commit until the sets converge', async (t) => {
  // n1 sees n2,n3 but n3 has not yet authenticated n2 (sees only n1 and a late n4).
  const sees = new Map<string, Candidate[]>([
    [node(1).nodeId, [node(2), node(3)]],
    [node(2).nodeId, [node(1), node(3)]],
    [node(3).nodeId, [node(1), node(4)]],
    [node(4).nodeId, [node(3)]],
  ]);
  const world = new World(3, sees);
  const d1 = world.round(node(1));
  t.equal(d1.kind, 'wait', 'n1 waits: n3 proposes {1,3,4}');
  t.match((d1 as { reason: string }).reason, /n3 still see a different set/);
  t.equal(world.round(node(3)).kind, 'wait', 'n3 waits: n1 proposes {1,2,3}');
  t.equal(world.committed.size, 0);
  // n3 authenticates n2: now everyone's lowest three are {1,2,3}.
  sees.set(node(3).nodeId, [node(1), node(2), node(4)]);
  t.equal(world.round(node(1)).kind, 'commit');
  t.equal(world.round(node(3)).kind, 'adopt', 'n3 adopts the view n1 committed');
  t.equal(world.round(node(2)).kind, 'adopt');
});

t.test('a late agent with a lower id changes proposals only before anyone commits', async (t) => {
  const nodes = [node(2), node(3), node(4)];
  const sees = everyoneSeesEveryone(nodes);
  const world = new World(3, sees);
  t.equal(world.round(node(2)).kind, 'commit', 'n2 commits {2,3,4}');
  // n1 appears and everyone sees it from now on.
  const all = [node(1), ...nodes];
  for (const [k, v] of everyoneSeesEveryone(all)) sees.set(k, v);
  const d3 = world.round(node(3));
  t.equal(d3.kind, 'adopt', 'n3 adopts the committed {2,3,4} instead of proposing {1,2,3}');
  t.equal(world.round(node(4)).kind, 'adopt');
  t.equal(world.round(node(1)).kind, 'spare', 'the late lower id becomes a spare: views never change once acted on');
  const views = [...world.committed.values()];
  t.ok(views.every((v) => sameView(v, views[0]!)));
});

t.test('an unreachable view member blocks commit with its reason', async (t) => {
  const nodes = [node(1), node(2), node(3)];
  const world = new World(3, everyoneSeesEveryone(nodes));
  const d = world.round(node(1), new Set([node(3).nodeId]));
  t.equal(d.kind, 'wait');
  t.match((d as { reason: string }).reason, /n3: ECONNREFUSED/);
  t.equal(world.committed.size, 0);
});

t.test('restart mid-way: a committed agent keeps reporting its view, others adopt it', async (t) => {
  const nodes = [node(1), node(2), node(3)];
  const world = new World(3, everyoneSeesEveryone(nodes));
  t.equal(world.round(node(2)).kind, 'commit');
  // n2 restarts: the persisted commit is reloaded and reported as before.
  const persisted = world.committed.get(node(2).nodeId)!;
  world.committed.delete(node(2).nodeId);
  world.committed.set(node(2).nodeId, persisted);
  t.equal(world.round(node(1)).kind, 'adopt');
  t.equal(world.round(node(3)).kind, 'adopt');
});

t.test('a formed cluster among the peers means join, never bootstrap', async (t) => {
  const reports = new Map<string, ViewReport | string>([
    [node(2).nodeId, { nodeId: node(2).nodeId, committed: [node(2)], proposed: null, formed: true }],
  ]);
  const d = decide(node(1), propose(node(1), [node(2), node(3)], 3), reports);
  t.equal(d.kind, 'join');
});

t.test('size 1 commits alone', async (t) => {
  const d = decide(node(5), propose(node(5), [], 1), new Map());
  t.equal(d.kind, 'commit');
});

t.test('a view where two agents claim one name or address is never committed', async (t) => {
  const a = node(1);
  const b = { ...node(2), name: a.name };
  const c = node(3);
  const view = [a, b, c];
  t.match(viewConflict(view), /both claim the name "n1"/);
  t.match(viewConflict([a, { ...node(2), address: a.address }, c]), /both claim the address/);
  t.equal(viewConflict([a, node(2), c]), undefined);
  const proposal = propose(a, [b, c], 3);
  const agree = (v: View): ViewReport => ({ nodeId: '', committed: null, proposed: v, formed: false });
  const decision = decide(a, proposal, new Map([[b.nodeId, agree(view)], [c.nodeId, agree(view)]]));
  t.equal(decision.kind, 'wait');
  t.match((decision as { reason: string }).reason, /both claim the name/);
});
