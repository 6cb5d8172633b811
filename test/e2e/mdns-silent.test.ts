/**
 * A host whose multicast is silent (no multicast route, and multicast dropped
 * in and out) still forms the cluster through its seeds, while its peers use
 * mDNS. A silent host with neither seeds nor mDNS answers says why it waits:
 * "no mDNS answers on eth1 (…) for 30 s — multicast may be blocked; configure
 * seeds", and that its mDNS sends fail.
 */
import t from 'tap';
import { generateToken } from '../../src/pki/index.js';
import { TestBed, skipUnlessRoot } from '../helpers/netns.js';
import { CLI } from '../helpers/agents.js';
import { NetnsAgents } from '../helpers/netns-agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(180_000);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

if (skipUnlessRoot(t, 'silent multicast')) {
  const bed = await TestBed.create({ hosts: 4 });
  const agents = new NetnsAgents(bed);
  t.teardown(async () => {
    await bed.destroy();
    await agents.cleanup();
  });

  t.test('silent host with seeds forms the cluster; silent host without seeds explains itself', async (t) => {
    const token = generateToken();
    await agents.init(1, { cluster: 'seeded', size: 3, token });
    await agents.init(2, { cluster: 'seeded', size: 3, token });
    await agents.init(3, { cluster: 'seeded', size: 3, token, seeds: [1, 2] });
    await agents.init(4, { cluster: 'lonely', size: 3, token: generateToken() });
    bed.silenceMulticast(3);
    bed.silenceMulticast(4);
    const route = await bed.exec(3, ['ip', 'route', 'show', '224.0.0.0/4']);
    t.equal(route.stdout.trim(), '', 'h3 has no multicast route');

    const t0 = Date.now();
    for (const i of [1, 2, 3, 4]) agents.start(i);
    const formed = await agents.waitFormed([1, 2, 3], 90_000);
    t.comment(`seeded cluster formed in ${Date.now() - t0} ms with h3 silent`);
    t.same(formed[0]!.members.map((m) => m.name).sort(), ['h1', 'h2', 'h3']);
    const s3 = formed[2]!;
    t.ok(s3.peers.some((p) => p.sources.includes('seed') && p.authenticated), 'h3 found its peers through seeds');
    t.notOk(s3.peers.some((p) => p.sources.includes('mdns')), 'h3 heard nothing over mDNS');
    t.match(s3.discovery.problems.join('\n'), /mDNS cannot send on eth1 \(10\.\d+\.0\.13\): .*EPERM/, 'h3 /status says its mDNS sends fail');

    const h4 = bed.host(4);
    const lonely = await waitFor(
      'h4 to explain the silence',
      async () => {
        const s = await agents.status(4);
        return /no mDNS answers/.test(s.reason) ? s : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 1000, describe: () => agents.describe([4]) },
    );
    t.comment(`h4 after ${Date.now() - t0} ms: ${lonely.phase}: ${lonely.reason}`);
    t.equal(lonely.phase, 'discovering', 'h4 waits');
    t.match(lonely.reason, /waiting for peers: 1 of 3 agents authenticated/);
    t.match(
      lonely.reason,
      new RegExp(escape(`no mDNS answers on ${h4.iface} (${h4.address}) for 30 s — multicast may be blocked; configure seeds`)),
      'the waiting reason names the interface and the remedy',
    );
    t.match(lonely.reason, new RegExp(escape(`mDNS cannot send on ${h4.iface} (${h4.address})`)), 'and that its sends fail');
    t.match(lonely.discovery.problems.join('\n'), /no mDNS answers on eth1/, 'also under discovery.problems');
    // A CLI start-up on a loaded machine (tests run two at a time) can take many seconds.
    const text = await bed.exec(4, [process.execPath, CLI, 'status'], { timeoutMs: 60_000 });
    t.match(text.stdout, /no mDNS answers on eth1/, '`etcd-agent status` shows it too');

    // Multicast comes back: h4 hears the other cluster, so the sentence changes.
    bed.unsilenceMulticast(4);
    const heard = await waitFor(
      'h4 to hear the segment again',
      async () => {
        const s = await agents.status(4);
        return /no mDNS answers|cannot send/.test(s.reason) ? undefined : s;
      },
      { timeoutMs: 20_000, intervalMs: 1000, describe: () => agents.describe([4]) },
    );
    t.pass('the silence complaint clears once multicast works');
    t.match(heard.reason, /mDNS on eth1 \(10\.\d+\.0\.14\) hears other hosts but no etcd-agent of cluster "lonely"/, 'now it says it hears only other clusters');
  });
}
