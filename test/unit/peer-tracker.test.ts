/**
 * The peer table's bound (pure bookkeeping: the client is a stand-in that
 * "authenticates" whatever endpoint it is given).
 */
import t from 'tap';
import type { PeerEndpoint } from '../../src/discovery/index.js';
import type { Endpoint, PeerClient, PeerSession } from '../../src/agent/peer/client.js';
import { PROTOCOL_VERSION, type PeerInfo } from '../../src/agent/peer/protocol.js';
import { MAX_KNOWN_PEERS, PeerTracker } from '../../src/agent/peer/tracker.js';
import { silentLogger } from '../../src/util/log.js';

const id = (n: number): string => n.toString(16).padStart(32, '0');
const info = (n: number): PeerInfo => ({
  protocol: PROTOCOL_VERSION,
  clusterName: 'prod',
  nodeId: id(n),
  name: `n${n}`,
  address: `10.0.${n >> 8}.${n & 255}`,
  peerApiPort: 2390,
  etcdPeerPort: 2380,
  etcdClientPort: 2379,
  version: '0.1.0',
  stage: 'fresh',
});
const endpoint = (n: number): PeerEndpoint => ({ key: `10.0.${n >> 8}.${n & 255}:2390`, address: `10.0.${n >> 8}.${n & 255}`, port: 2390, sources: ['seed'], origin: 'seed' });

/** Says hello successfully to endpoint 10.0.x.y as node x*256+y. */
const client = {
  hello: async (e: Endpoint): Promise<PeerSession> => {
    const [, , a, b] = e.address.split('.').map(Number) as [number, number, number, number];
    return { endpoint: e, info: info(a * 256 + b), serverFingerprint: 'S', clientFingerprint: 'C', at: Date.now() };
  },
} as unknown as PeerClient;

t.test('inbound insiders beyond the bound are not remembered', async (t) => {
  const tracker = new PeerTracker(client, id(0), silentLogger());
  for (let n = 1; n <= 1500; n++) tracker.remember(info(n));
  t.equal(tracker.peers().length, MAX_KNOWN_PEERS, `at most ${MAX_KNOWN_PEERS}`);
  t.ok(tracker.peers().some((p) => p.nodeId === id(1)), 'the first ones stay (they are not stale)');
  t.notOk(tracker.peers().some((p) => p.nodeId === id(1500)), 'the newcomer is not remembered');
  tracker.remember(info(5));
  t.equal(tracker.peers().length, MAX_KNOWN_PEERS, 'a known peer is refreshed in place');
  t.ok(JSON.stringify(tracker.status()).length < 20_000, 'its status stays small');
});

t.test('a peer we reached ourselves takes the place of the stalest one outside the committed view', async (t) => {
  const view = [id(1), id(2)];
  const tracker = new PeerTracker(client, id(0), silentLogger(), { maxKnown: 4, pinned: () => view });
  tracker.remember(info(1));
  tracker.remember(info(2));
  tracker.remember(info(3));
  tracker.remember(info(4));
  tracker.remember(info(5)); // inbound, table full, nobody stale: dropped
  t.same(tracker.peers().map((p) => p.name).sort(), ['n1', 'n2', 'n3', 'n4']);
  await tracker.round([endpoint(6)]);
  const names = tracker.peers().map((p) => p.name).sort();
  t.equal(names.length, 4, 'still bounded');
  t.ok(names.includes('n6'), 'the discovered peer is remembered');
  t.ok(names.includes('n1') && names.includes('n2'), 'view members are never evicted');
  t.notOk(names.includes('n3') && names.includes('n4'), 'one of the others made room');
  t.same(tracker.status().find((p) => p.endpoint === endpoint(6).key)?.authenticated, true);
});

t.test('the tracker never remembers itself', async (t) => {
  const tracker = new PeerTracker(client, id(7), silentLogger());
  tracker.remember(info(7));
  t.same(tracker.peers(), []);
});
