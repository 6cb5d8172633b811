/**
 * Size 3, mDNS only. Two hosts start; the third starts 20 s later and is
 * still one of the initial members (the first two wait, and never bootstrap
 * alone). A fourth fresh agent that starts right after the first two saw the
 * third has the highest node id, so it is not in the view: it waits as a
 * spare and says so in /status.
 */
import t from 'tap';
import { generateToken } from '../../src/pki/index.js';
import { TestBed, skipUnlessRoot } from '../helpers/netns.js';
import { nodeKeysById } from '../helpers/agents.js';
import { NetnsAgents } from '../helpers/netns-agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(180_000);

if (skipUnlessRoot(t, 'late mDNS host and a spare')) {
  const bed = await TestBed.create({ hosts: 4 });
  const agents = new NetnsAgents(bed);
  t.teardown(async () => {
    await bed.destroy();
    await agents.cleanup();
  });

  t.test('a host started 20 s late joins the initial cluster; a fourth waits as a spare', async (t) => {
    const token = generateToken();
    // Node ids decide who is in the view (the 3 lowest): h4 gets the highest. An id is its node key's id.
    const keys = await nodeKeysById(4);
    for (const i of [1, 2, 3, 4]) await agents.init(i, { cluster: 'late', size: 3, token, nodeKey: keys[i - 1]!.keyPem });

    const t0 = Date.now();
    agents.start(1);
    agents.start(2);
    const waiting = await waitFor(
      'h1 and h2 to see each other and wait for a third',
      async () => {
        const ss = await agents.statuses([1, 2]);
        return ss.every((s) => s.phase === 'discovering' && /2 of 3 agents authenticated/.test(s.reason)) ? ss : undefined;
      },
      // The bound covers two agents starting on a loaded machine; the 20 s of waiting are asserted below.
      { timeoutMs: 45_000, describe: () => agents.describe([1, 2]) },
    );
    t.comment(`h1 and h2 found each other by mDNS ${Date.now() - t0} ms after start`);
    t.match(waiting[0]!.reason, /waiting for peers: 2 of 3/, 'the reason says what it waits for');
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - t0))));
    const still = await agents.statuses([1, 2]);
    t.ok(still.every((s) => s.phase === 'discovering'), 'after 20 s, two of three have still not bootstrapped');

    const t1 = Date.now();
    agents.start(3);
    // h4 starts once h1 has seen the late h3 (it left discovering): on a loaded machine an agent that starts
    // at the same moment may be seen first, and the initial members are the lowest ids *among those seen*.
    await waitFor(
      'h1 to see the late h3 and leave discovering',
      async () => (await agents.statuses([1]).catch(() => []))[0]?.phase !== 'discovering',
      { timeoutMs: 60_000, describe: () => agents.describe([1, 3]) },
    );
    agents.start(4);
    const phases4 = new Set<string>();
    let watching = true;
    const watch4 = (async () => {
      while (watching) {
        try {
          const s = await agents.status(4);
          phases4.add(s.phase);
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const formed = await agents.waitFormed([1, 2, 3], 90_000);
    t.comment(`formed ${Date.now() - t1} ms after the late host started`);
    const spare = await waitFor(
      'h4 to say it is a spare',
      async () => {
        const s = await agents.status(4);
        phases4.add(s.phase);
        return phases4.has('spare') ? s : undefined;
      },
      { timeoutMs: 45_000, describe: () => agents.describe([4]) },
    );
    watching = false;
    await watch4;

    t.same(formed[0]!.members.map((m) => m.name).sort(), ['h1', 'h2', 'h3'], 'the late host is an initial member');
    t.equal(new Set(formed.map((s) => s.cluster.id)).size, 1, 'one cluster');
    t.ok(phases4.has('spare'), `h4 reported phase spare (phases seen: ${[...phases4].join(', ')})`);
    t.notOk(phases4.has('enrolling') || phases4.has('formed'), 'h4 never enrolled');
    t.equal(spare.initialMembers.length === 0 || !spare.initialMembers.some((m) => m.name === 'h4'), true, 'h4 is not in the view');
    const now4 = await agents.status(4);
    t.ok(['spare', 'joining'].includes(now4.phase), `h4 still waits (${now4.phase}: ${now4.reason})`);
    t.notOk(formed.some((s) => s.members.some((m) => m.name === 'h4')), 'no member named h4');
    const health = await agents.etcdctl(3, ['endpoint', 'health', '--cluster']);
    t.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3, 'three healthy members, checked from the late host');
  });
}
