/**
 * While three hosts form a cluster by mDNS, a fourth host floods the segment
 * (224.0.0.251:5353) with malformed and lying mDNS packets: truncated and
 * random packets, a valid-looking _etcd-agent._tcp answer with garbage TXT, a
 * huge TXT, a non-IP address, wrong ports, conflicting and wrongly typed
 * records, and a well-formed impostor where no agent listens. Formation is not
 * disturbed, no agent crashes, and the impostor is never trusted.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { generateToken } from '../../src/pki/index.js';
import { hostilePackets } from '../helpers/mdns-packets.js';
import { TestBed, skipUnlessRoot } from '../helpers/netns.js';
import { NetnsAgents } from '../helpers/netns-agents.js';

t.setTimeout(180_000);

/** Runs inside the injector host: sends every packet of the file in turn, forever (until killed). */
const INJECTOR = `
const dgram = require('node:dgram');
const fs = require('node:fs');
const [file, iface, gapMs] = process.argv.slice(1);
const packets = JSON.parse(fs.readFileSync(file, 'utf8')).map((p) => Buffer.from(p, 'base64'));
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let sent = 0, failed = 0, k = 0;
sock.bind(0, () => {
  sock.setMulticastInterface(iface);
  setInterval(() => {
    sock.send(packets[k++ % packets.length], 5353, '224.0.0.251', (err) => { if (err) failed++; else sent++; });
  }, Number(gapMs));
  setInterval(() => console.log(JSON.stringify({ sent, failed })), 1000);
});
`;

if (skipUnlessRoot(t, 'malformed mDNS injection')) {
  const bed = await TestBed.create({ hosts: 4 });
  const agents = new NetnsAgents(bed);
  t.teardown(async () => {
    await bed.destroy();
    await agents.cleanup();
  });

  t.test('formation is not disturbed by hostile mDNS traffic', async (t) => {
    const injector = bed.host(4);
    // The impostor points at the injector itself, where nothing listens on the peer port.
    const packets = hostilePackets({ cluster: 'hostile', unreachable: injector.address });
    const file = join(tmpdir(), `${bed.id}-packets.json`);
    await writeFile(file, JSON.stringify(packets.map((p) => p.packet.toString('base64'))));
    t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(file, { force: true })));
    t.comment(`injecting ${packets.length} kinds: ${packets.map((p) => p.label).join('; ')}`);
    const injectorLog = join(tmpdir(), `${bed.id}-injector.log`);
    t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(injectorLog, { force: true })));
    const inj = bed.spawn(4, [process.execPath, '-e', INJECTOR, file, injector.address, '20'], { logFile: injectorLog });

    const token = generateToken();
    for (const i of [1, 2, 3]) await agents.init(i, { cluster: 'hostile', size: 3, token });
    // Let the flood start first, so the agents meet it from their first packet on.
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    for (const i of [1, 2, 3]) agents.start(i);
    const formed = await agents.waitFormed([1, 2, 3], 90_000);
    t.comment(`formed in ${Date.now() - t0} ms under a flood of hostile mDNS packets`);
    await bed.stop(inj);
    const { readFile } = await import('node:fs/promises');
    const counts = (await readFile(injectorLog, 'utf8')).trim().split('\n').pop() ?? '{}';
    const { sent } = JSON.parse(counts) as { sent: number };
    t.ok(sent > packets.length * 5, `the injector really sent (${counts})`);

    t.same(formed[0]!.members.map((m) => m.name).sort(), ['h1', 'h2', 'h3'], 'exactly the three real hosts');
    for (const [k, s] of formed.entries()) {
      const i = k + 1;
      t.ok(agents.running(i), `h${i}: agent still running`);
      const impostor = s.peers.filter((p) => p.endpoint.startsWith(`${injector.address}:`));
      t.ok(impostor.every((p) => !p.authenticated), `h${i}: the impostor endpoint is never authenticated`);
      t.notOk(s.members.some((m) => m.peerUrls.some((u) => u.includes(injector.address))), `h${i}: the impostor is no member`);
      const log = agents.log(i);
      t.match(log, /mDNS: ignored record/, `h${i}: hostile records were seen and ignored (debug log)`);
      t.notMatch(log, /"level":(50|60)/, `h${i}: no error-level log line`);
      t.notMatch(log, /uncaught|unhandled/i, `h${i}: nothing escaped a handler`);
    }
    const dialled = formed.flatMap((s) => s.peers).filter((p) => p.endpoint.startsWith(`${injector.address}:`));
    t.ok(dialled.length > 0 && dialled.every((p) => p.sources.includes('mdns') && !p.authenticated && p.error), `the impostor was offered by mDNS, dialled, and refused trust: ${dialled.map((p) => p.error).join('; ')}`);
    const health = await agents.etcdctl(1, ['endpoint', 'health', '--cluster']);
    t.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3, 'three healthy members');
  });
}
