/**
 * Two clusters with different names and tokens on the same bridge, both by
 * mDNS only, form at the same time and stay apart: disjoint members, different
 * CAs, no agent of one ever authenticated (or even dialled) by the other.
 */
import t from 'tap';
import { generateToken } from '../../src/pki/index.js';
import { TestBed, skipUnlessRoot } from '../helpers/netns.js';
import { NetnsAgents } from '../helpers/netns-agents.js';

t.setTimeout(180_000);

if (skipUnlessRoot(t, 'two mDNS clusters on one segment')) {
  const bed = await TestBed.create({ hosts: 6, hostnames: ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'] });
  const agents = new NetnsAgents(bed);
  t.teardown(async () => {
    await bed.destroy();
    await agents.cleanup();
  });
  const A = [1, 2, 3];
  const B = [4, 5, 6];

  t.test('both form, each from its own three hosts', async (t) => {
    const tokenA = generateToken();
    const tokenB = generateToken();
    for (const i of A) await agents.init(i, { cluster: 'alpha', size: 3, token: tokenA });
    for (const i of B) await agents.init(i, { cluster: 'beta', size: 3, token: tokenB });
    // Interleaved starts, so both clusters discover at the same time on one segment.
    for (const i of [1, 4, 2, 5, 3, 6]) agents.start(i);
    const [sa, sb] = await Promise.all([agents.waitFormed(A, 90_000), agents.waitFormed(B, 90_000)]);

    const members = (ss: typeof sa) => new Set(ss.flatMap((s) => s.members.map((m) => m.name)));
    t.same([...members(sa)].sort(), ['a1', 'a2', 'a3'], 'alpha has exactly a1-a3');
    t.same([...members(sb)].sort(), ['b1', 'b2', 'b3'], 'beta has exactly b1-b3');
    t.equal(new Set(sa.map((s) => s.cluster.id)).size, 1);
    t.equal(new Set(sb.map((s) => s.cluster.id)).size, 1);
    t.not(sa[0]!.cluster.id, sb[0]!.cluster.id, 'two different cluster ids');

    const caA = new Set(A.map((i) => agents.caFingerprint(i)));
    const caB = new Set(B.map((i) => agents.caFingerprint(i)));
    t.equal(caA.size, 1, 'one CA in alpha');
    t.equal(caB.size, 1, 'one CA in beta');
    t.not([...caA][0], [...caB][0], 'the two clusters have different CAs');

    const addr = (ids: number[]) => new Set(ids.map((i) => bed.host(i).address));
    for (const [group, others, ss] of [[A, B, sa], [B, A, sb]] as const) {
      for (const [k, s] of ss.entries()) {
        const name = bed.host(group[k]!).hostname;
        const dialled = s.peers.filter((p) => addr([...others]).has(p.endpoint.split(':')[0]!));
        t.same(dialled, [], `${name}: never dialled an agent of the other cluster (mDNS keeps only its own cluster)`);
        t.same(s.refusals, [], `${name}: nobody was refused`);
      }
    }

    const list = await agents.etcdctl(1, ['member', 'list']);
    t.equal(list.stdout.trim().split('\n').length, 3, 'alpha: three members');
    // Lines read "ID, started, NAME, …": match the name column, not hex ids that happen to contain b1.
    t.notMatch(list.stdout, /, started, b[123],/, 'no beta member in alpha');
    const health = await agents.etcdctl(4, ['endpoint', 'health', '--cluster']);
    t.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3, 'beta healthy');

    // Certificates of one cluster are worthless in the other.
    const cross = await bed.exec(1, [
      'etcdctl', `--endpoints=https://${bed.host(4).address}:2379`, '--dial-timeout=3s', '--command-timeout=5s',
      `--cacert=${agents.pki(1, 'ca.crt')}`, `--cert=${agents.pki(1, 'etcdctl.crt')}`, `--key=${agents.pki(1, 'etcdctl.key')}`,
      'get', 'x',
    ], { env: { ETCDCTL_API: '3' }, timeoutMs: 20_000 });
    t.not(cross.code, 0, "alpha's client certificate does not open beta");
  });
}
