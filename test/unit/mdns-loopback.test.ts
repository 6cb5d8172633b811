/**
 * MdnsSource over real UDP multicast on 127.0.0.1, on a private port (never
 * 5353) so it cannot meet anything else on this machine: agents find each
 * other, ignore other clusters, forget on goodbye, re-announce when their
 * advert changes, survive hostile packets, and explain silence.
 */
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { MdnsSource } from '../../src/discovery/mdns.js';
import type { MdnsAdvert } from '../../src/discovery/mdns-records.js';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../src/util/log.js';
import { announcement, hostilePackets } from '../helpers/mdns-packets.js';
import { waitFor } from '../helpers/wait.js';

const PORT = 40_000 + Math.floor(Math.random() * 20_000);
const sources: MdnsSource[] = [];
t.teardown(async () => {
  await Promise.all(sources.map((s) => s.stop()));
});

const advertOf = (n: number, cluster = 'loop'): MdnsAdvert => ({
  cluster,
  nodeId: n.toString(16).padStart(32, '0'),
  name: `n${n}`,
  port: 2390,
  address: `127.0.77.${10 + n}`,
  version: '0.1.0',
});

function source(advert: () => MdnsAdvert, extra: { silenceMs?: number; interfaceName?: string } = {}): MdnsSource {
  const s = new MdnsSource({
    advert,
    interfaceName: extra.interfaceName ?? 'lo',
    ...(extra.interfaceName ? {} : { interfaceAddress: '127.0.0.1' }),
    port: PORT,
    logger: silentLogger(),
    silenceMs: extra.silenceMs ?? 30_000,
    queryIntervalMs: 300,
  });
  sources.push(s);
  return s;
}

const keys = (s: MdnsSource): string[] => s.endpoints().map((e) => e.key).sort();

async function sender(): Promise<Socket> {
  const sock = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.setMulticastInterface('127.0.0.1');
  return sock;
}
const send = (sock: Socket, packet: Buffer) =>
  new Promise<void>((r) => sock.send(packet, PORT, '224.0.0.251', () => r()));

t.test('agents of one cluster find each other; other clusters are not offered', async (t) => {
  let a2 = advertOf(2);
  const s1 = source(() => advertOf(1));
  const s2 = source(() => a2);
  const other = source(() => advertOf(3, 'elsewhere'));
  await Promise.all([s1.start(), s2.start(), other.start()]);
  await waitFor('both see each other', () => keys(s1).length === 1 && keys(s2).length === 1, { timeoutMs: 5000 });
  t.same(keys(s1), ['127.0.77.12:2390']);
  t.same(keys(s2), ['127.0.77.11:2390']);
  t.same(s1.endpoints()[0]!.sources, ['mdns']);
  t.match(s1.describe(), /^mdns on lo \(127\.0\.0\.1\), announcing 127\.0\.77\.11:2390 as n1-00000000\._etcd-agent\._tcp\.local; 1 peer/);
  await other.refresh();
  t.same(keys(other), [], 'the other cluster sees nobody of its own');
  t.same(s1.problems(), []);

  // A new advertise address is re-announced: a goodbye for the old records, then the new ones.
  a2 = { ...a2, address: '127.0.77.22' };
  await s2.refresh();
  await waitFor('s1 sees the new address', () => keys(s1).join() === '127.0.77.22:2390', { timeoutMs: 5000 });
  t.pass('re-announced on change');

  await s2.stop();
  await waitFor('s1 forgets s2 after its goodbye', () => keys(s1).length === 0, { timeoutMs: 3000 });
  t.pass('goodbye honoured');
  await Promise.all([s1.stop(), other.stop()]);
});

t.test('hostile packets are ignored and never throw out of the socket handler', async (t) => {
  const lines: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const s1 = new MdnsSource({
    advert: () => advertOf(4),
    interfaceName: 'lo',
    interfaceAddress: '127.0.0.1',
    port: PORT,
    logger: createLogger({ level: 'debug', destination: capture }),
  });
  sources.push(s1);
  await s1.start();
  const sock = await sender();
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    for (let round = 0; round < 3; round++) {
      for (const { packet } of hostilePackets({ cluster: 'loop', unreachable: '127.0.77.99' })) await send(sock, packet);
    }
    // A real peer still gets through after the garbage.
    await send(sock, announcement({ instance: 'n5-00000000', cluster: 'loop', nodeId: '5'.padStart(32, '0'), name: 'n5', port: 2390, address: '127.0.77.15' }));
    await waitFor('the real peer is seen', () => keys(s1).includes('127.0.77.15:2390'), { timeoutMs: 3000 });
  } finally {
    process.off('uncaughtException', onUncaught);
    sock.close();
  }
  t.same(uncaught, [], 'nothing escaped');
  t.same(
    keys(s1).filter((k) => k !== '127.0.77.15:2390'),
    ['127.0.0.1:2390', '127.0.77.99:2390'],
    'only well-formed announcements are offered (the impostors will fail the hello; loopback is believed only because this agent is on loopback itself); every malformed one is dropped',
  );
  await s1.refresh();
  t.same(s1.problems(), [], 'garbage is not a problem worth /status');
  const ignored = lines.filter((l) => l.includes('ignored record')).join('\n');
  for (const reason of [/undecodable packet/, /TXT is over 1024 bytes/, /not an IP address/, /not a unicast address/, /conflicting SRV/, /conflicting ports/, /no txtvers/, /99999\W{0,3} is not a port/]) {
    t.match(ignored, reason, `debug log says why: ${reason.source}`);
  }
  t.notMatch(lines.join(''), /"level":(50|60)/, 'no error logged');
});

t.test('silence is explained: no answers on the interface for the configured time', async (t) => {
  // A private port nobody else uses here: nothing will ever answer.
  const lonely = new MdnsSource({
    advert: () => advertOf(6, 'alone'),
    interfaceName: 'lo',
    interfaceAddress: '127.0.0.1',
    port: PORT + 1,
    logger: silentLogger(),
    silenceMs: 600,
    queryIntervalMs: 100,
  });
  sources.push(lonely);
  await lonely.start();
  t.same(lonely.problems(), [], 'nothing to say at first');
  await new Promise((r) => setTimeout(r, 800));
  await lonely.refresh();
  t.same(lonely.problems(), ['no mDNS answers on lo (127.0.0.1) for 1 s — multicast may be blocked; configure seeds']);
});

t.test('an interface that does not exist is a problem in words, not an exception', async (t) => {
  const s = source(() => advertOf(7), { interfaceName: 'nosuch0' });
  await s.start();
  await s.refresh();
  t.same(s.endpoints(), []);
  t.match(s.problems().join(), /mDNS is on but this host has no interface nosuch0; set discovery\.mdnsInterface/);
  t.match(s.describe(), /not running/);
});

t.test('the interface comes and goes: mDNS starts, stops and restarts with it', async (t) => {
  let clock = Date.now();
  let current: NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]> = {};
  const lo = { address: '127.0.0.1', family: 'IPv4', netmask: '255.0.0.0', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' } as const;
  const s = new MdnsSource({
    advert: () => advertOf(8),
    interfaceName: 'veth-test',
    port: PORT,
    logger: silentLogger(),
    queryIntervalMs: 100,
    networkInterfaces: () => current,
    now: () => clock,
  });
  sources.push(s);
  await s.start();
  t.match(s.problems().join(), /this host has no interface veth-test/);
  current = { 'veth-test': [] };
  clock += 6000;
  await s.refresh();
  t.match(s.problems().join(), /interface veth-test has no IPv4 address/, 'retried after a few seconds');
  current = { 'veth-test': [{ ...lo }] };
  clock += 6000;
  await s.refresh();
  t.same(s.problems(), [], 'address arrived: mDNS runs');
  t.match(s.describe(), /^mdns on veth-test \(127\.0\.0\.1\)/);
  const peer = source(() => advertOf(9));
  await peer.start();
  await waitFor('the peer is heard', () => keys(s).includes('127.0.77.19:2390'), { timeoutMs: 5000 });
  current = {};
  await s.refresh();
  t.match(s.describe(), /not running/, 'address gone: mDNS stops (and says goodbye)');
  await peer.stop();
});
