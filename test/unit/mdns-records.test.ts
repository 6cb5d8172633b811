/**
 * What goes into an mDNS announcement and what is believed out of one: TXT
 * layout, validation of every field, and reading whole response packets
 * (goodbyes, incomplete and conflicting records, TTL clamping).
 */
import t from 'tap';
import {
  MAX_TTL_S,
  MIN_TTL_S,
  advertOf,
  advertTxt,
  parseTxt,
  readResponse,
  sameAdvert,
  type MdnsAdvert,
} from '../../src/discovery/mdns-records.js';

const advert: MdnsAdvert = {
  cluster: 'prod',
  nodeId: '0123456789abcdef0123456789abcdef',
  name: 'host-1.example',
  port: 2390,
  address: '10.9.0.11',
  version: '0.1.0',
};

/** TXT strings as bonjour-service encodes them: `key=value` buffers. */
const txtOf = (fields: Record<string, string>): Buffer[] => Object.entries(fields).map(([k, v]) => Buffer.from(`${k}=${v}`));
const goodTxt = (): Record<string, string> => advertTxt(advert);
const parse = (data: unknown, allowLoopback = false) => parseTxt(data, { allowLoopback });

t.test('TXT carries the public facts and never the token', async (t) => {
  const txt = advertTxt(advert);
  t.same(txt, { txtvers: '1', cluster: 'prod', id: advert.nodeId, name: 'host-1.example', port: '2390', addr: '10.9.0.11', ver: '0.1.0' });
  t.notOk(Object.keys(txt).some((k) => /token|secret|key|proof|hmac/i.test(k)), 'no secret-looking key');
  t.ok(txtOf(txt).reduce((n, b) => n + b.length, 0) < 200, 'small enough for one packet with room to spare');
});

t.test('a TXT written by an agent reads back as the same advert', async (t) => {
  const r = parse(txtOf(goodTxt()));
  t.ok(r.ok);
  if (r.ok) t.ok(sameAdvert(r.value, advert));
  const v6 = parse(txtOf({ ...goodTxt(), addr: 'fd00::11' }));
  t.ok(v6.ok, 'IPv6 advertise address is fine');
  const upper = parse([Buffer.from('TXTVERS=1'), ...txtOf(goodTxt()).slice(1)]);
  t.ok(upper.ok, 'keys are case-insensitive (DNS-SD)');
  const noVer = { ...goodTxt() } as Record<string, string>;
  delete noVer.ver;
  const r2 = parse(txtOf(noVer));
  t.ok(r2.ok && r2.value.version === 'unknown', 'version is optional');
  t.ok(parse([...txtOf(goodTxt()), Buffer.from('future=thing'), Buffer.from('flag')]).ok, 'unknown keys and boolean attributes are tolerated');
  t.ok(parse([Buffer.alloc(0), ...txtOf(goodTxt())]).ok, 'empty strings are skipped');
});

t.test('garbage TXT is refused with a reason, never thrown', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not a list', 'cluster=prod', /not a list/],
    ['null', null, /not a list/],
    ['numbers', [1, 2, 3], /not a byte string/],
    ['strings', ['txtvers=1'], /not a byte string/],
    ['no txtvers', txtOf({ cluster: 'prod' }), /no txtvers/],
    ['future layout', txtOf({ ...goodTxt(), txtvers: '2' }), /version "2" is not supported/],
    ['missing id', txtOf({ txtvers: '1', cluster: 'prod', name: 'a', port: '1', addr: '10.0.0.1' }), /no id/],
    ['bad id', txtOf({ ...goodTxt(), id: 'xyz' }), /id is not 32 hex/],
    ['uppercase id', txtOf({ ...goodTxt(), id: advert.nodeId.toUpperCase() }), /id is not 32 hex/],
    ['bad cluster', txtOf({ ...goodTxt(), cluster: 'Prod!' }), /cluster is not a valid/],
    ['bad name', txtOf({ ...goodTxt(), name: 'a b' }), /name is not a valid/],
    ['long name', txtOf({ ...goodTxt(), name: 'a'.repeat(64) }), /name is not a valid/],
    ['port 0', txtOf({ ...goodTxt(), port: '0' }), /port "0" is not a port/],
    ['port 70000', txtOf({ ...goodTxt(), port: '70000' }), /port "70000" is not a port/],
    ['port text', txtOf({ ...goodTxt(), port: 'http' }), /port "http" is not a port/],
    ['port negative', txtOf({ ...goodTxt(), port: '-1' }), /is not a port/],
    ['host name address', txtOf({ ...goodTxt(), addr: 'evil.example.com' }), /not an IP address/],
    ['empty address', txtOf({ ...goodTxt(), addr: '' }), /not an IP address/],
    ['multicast address', txtOf({ ...goodTxt(), addr: '224.0.0.251' }), /not a unicast/],
    ['any address', txtOf({ ...goodTxt(), addr: '0.0.0.0' }), /not a unicast/],
    ['broadcast address', txtOf({ ...goodTxt(), addr: '255.255.255.255' }), /not a unicast/],
    ['loopback from elsewhere', txtOf({ ...goodTxt(), addr: '127.0.0.1' }), /loopback/],
    ['duplicate key', [...txtOf(goodTxt()), Buffer.from('addr=10.0.0.2')], /appears twice/],
    ['not utf-8', [...txtOf(goodTxt()).slice(0, 6), Buffer.from([0x76, 0x65, 0x72, 0x3d, 0xff, 0xfe])], /not UTF-8/],
    ['control char key', [Buffer.from('\u0001=x'), ...txtOf(goodTxt())], /not printable/],
    ['oversized string', [...txtOf(goodTxt()), Buffer.alloc(300, 0x61)], /300 bytes/],
    ['huge TXT', [...txtOf(goodTxt()), ...Array.from({ length: 6 }, (_, i) => Buffer.from(`pad${i}=${'x'.repeat(240)}`))], /over 1024 bytes/],
    ['too many strings', Array.from({ length: 40 }, (_, i) => Buffer.from(`k${i}=v`)), /40 strings/],
    ['version with spaces', txtOf({ ...goodTxt(), ver: 'a b' }), /ver is not printable/],
  ];
  for (const [label, data, problem] of cases) {
    let r: ReturnType<typeof parse> | undefined;
    t.doesNotThrow(() => {
      r = parse(data);
    }, label);
    t.ok(r && !r.ok, `${label}: refused`);
    if (r && !r.ok) t.match(r.problem, problem, `${label}: ${r.problem}`);
  }
  t.ok(parse(txtOf({ ...goodTxt(), addr: '127.0.0.12' }), true).ok, 'loopback is believed when we are on loopback ourselves');
});

// ---- whole packets -----------------------------------------------------------

const INSTANCE = 'host-1-example-01234567._etcd-agent._tcp.local';
const ptr = (ttl = 28800, target = INSTANCE) => ({ name: '_etcd-agent._tcp.local', type: 'PTR', ttl, data: target });
const srv = (ttl = 120, port = 2390, name = INSTANCE) => ({ name, type: 'SRV', ttl, data: { port, target: 'ea-0123.local', priority: 0, weight: 0 } });
const txt = (ttl = 4500, fields: Record<string, string> = goodTxt(), name = INSTANCE) => ({ name, type: 'TXT', ttl, data: txtOf(fields) });
const packet = (answers: unknown[], additionals: unknown[] = []) => ({ type: 'response', answers, additionals });

t.test('an announcement (PTR + SRV + TXT) is one sighting with the smallest TTL', async (t) => {
  const r = readResponse(packet([ptr(), srv(), txt()], [{ name: 'ea-0123.local', type: 'A', ttl: 120, data: '10.9.0.11' }]));
  t.equal(r.sightings.length, 1);
  const s = r.sightings[0]!;
  t.equal(s.fqdn, INSTANCE);
  t.equal(s.ttl, 120);
  t.equal(s.srvPort, 2390);
  const a = advertOf(s, { allowLoopback: false });
  t.ok(a.ok && sameAdvert(a.value, advert));
  t.same(r.goodbyes, []);
  t.same(r.ignored, []);
});

t.test('answers to a PTR query carry SRV and TXT as additionals; names are case-insensitive', async (t) => {
  const r = readResponse(packet([{ ...ptr(), data: INSTANCE.toUpperCase() + '.' }], [srv(), { ...txt(), name: INSTANCE.replace('host', 'HOST') }]));
  t.equal(r.sightings.length, 1);
  t.equal(r.sightings[0]!.fqdn, INSTANCE);
});

t.test('TTL is clamped: huge TTLs do not keep a peer for hours, tiny ones still survive a query interval', async (t) => {
  t.equal(readResponse(packet([ptr(1e9), srv(1e9), txt(1e9)])).sightings[0]!.ttl, MAX_TTL_S);
  t.equal(readResponse(packet([ptr(1), srv(1), txt(1)])).sightings[0]!.ttl, MIN_TTL_S);
});

t.test('goodbyes: TTL 0 on the PTR or on the instance records', async (t) => {
  const bonjourGoodbye = readResponse(packet([ptr(0), srv(0), txt(0)]));
  t.same(bonjourGoodbye.goodbyes, [INSTANCE]);
  t.same(bonjourGoodbye.sightings, []);
  t.same(readResponse(packet([srv(0)])).goodbyes, [INSTANCE]);
  const mixed = readResponse(packet([ptr(0), srv(), txt()]));
  t.same(mixed.sightings, [], 'a goodbye wins over records in the same packet');
});

t.test('incomplete, conflicting and wrongly typed records are ignored with reasons', async (t) => {
  const cases: [string, ReturnType<typeof packet>, RegExp][] = [
    ['PTR only', packet([ptr()]), /no SRV/],
    ['no TXT', packet([ptr(), srv()]), /no TXT/],
    ['SRV port 0', packet([ptr(), srv(120, 0), txt()]), /SRV port 0/],
    ['SRV port 70000', packet([ptr(), srv(120, 70000), txt()]), /SRV port 70000/],
    ['SRV data not an object', packet([ptr(), { name: INSTANCE, type: 'SRV', ttl: 120, data: 'garbage' }, txt()]), /SRV port undefined/],
    ['two SRV ports', packet([ptr(), srv(120, 2390), srv(120, 2391), txt()]), /conflicting SRV/],
    ['two TXTs', packet([ptr(), srv(), txt(), txt(4500, { ...goodTxt(), addr: '10.9.0.99' })]), /conflicting TXT/],
    ['PTR to elsewhere', packet([ptr(120, 'printer._ipp._tcp.local')]), /not an _etcd-agent._tcp.local instance/],
    ['PTR data not a name', packet([{ name: '_etcd-agent._tcp.local', type: 'PTR', ttl: 120, data: { x: 1 } }]), /PTR data is not a name/],
  ];
  for (const [label, p, problem] of cases) {
    const r = readResponse(p);
    t.same(r.sightings, [], `${label}: no sighting`);
    t.match(r.ignored.map((i) => i.problem).join('; '), problem, `${label}`);
  }
  const wrongPort = readResponse(packet([ptr(), srv(120, 2391), txt()])).sightings[0]!;
  const a = advertOf(wrongPort, { allowLoopback: false });
  t.ok(!a.ok && /conflicting ports: TXT says 2390, SRV says 2391/.test(a.problem), 'TXT and SRV must agree on the port');
});

t.test('garbage packets read as nothing, never throw', async (t) => {
  const junk: unknown[] = [
    undefined,
    null,
    42,
    'x',
    {},
    { answers: 'x' },
    { answers: [null, 1, 'a', { name: 5 }, { name: 'a', type: 'PTR' }, { name: 'a', type: 'PTR', ttl: -1 }, { name: 'a', type: 'PTR', ttl: NaN }] },
    { answers: [{ name: INSTANCE, type: 'TXT', ttl: 10, data: 'not-a-list' }, srv(), ptr()] },
    { answers: [{ name: 'x'.repeat(300) + '._etcd-agent._tcp.local', type: 'SRV', ttl: 10, data: { port: 1 } }] },
  ];
  for (const p of junk) {
    t.doesNotThrow(() => readResponse(p));
  }
  const r = readResponse(junk[7]);
  t.equal(r.sightings.length, 1, 'the sighting is made…');
  t.notOk(advertOf(r.sightings[0]!, { allowLoopback: false }).ok, '…but its TXT is refused');
  t.same(readResponse(junk[8]).sightings, [], 'names over 255 bytes are not instances');
});
