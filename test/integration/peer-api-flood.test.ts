/**
 * The peer API under load, on a real agent limited to 1024 file descriptors:
 * a tokenless hello/start flood from many keep-alive connections, a slowloris
 * of idle connections from one source, and token holders saying hello with
 * ever new node ids. Genuine hellos and the status API keep answering, and
 * nothing the attackers send grows without bound. Load is kept to seconds.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createEphemeralIdentity, generateToken, type TlsIdentity } from '../../src/pki/index.js';
import { isAgentError } from '../../src/util/errors.js';
import { NodeSet, httpGet, type TestNode } from '../helpers/agents.js';
import { endpointOf, floodHelloStarts, genuineClient, openIdleConnections, probeLoop, quickIdentity } from '../helpers/peer-load.js';
import { waitFor } from '../helpers/wait.js';

const SUBNET = 104;
const token = generateToken();
const cluster = 'flood';
const set = new NodeSet({ subnet: SUBNET, count: 1, size: 3, token, cluster });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));
const addr = (i: number): string => `127.0.${SUBNET}.${i}`;

let node: TestNode;
let attacker: TlsIdentity;

t.before(async () => {
  // Its would-be peers never start: the agent stays in discovery throughout.
  await set.init(() => ['--seeds', `${addr(12)},${addr(13)}`]);
  node = set.nodes[0]!;
  set.start(node, { nofile: 1024 });
  await waitFor('agent to wait for peers', async () => (await set.status(node)).phase === 'discovering', { timeoutMs: 15_000 });
  attacker = await createEphemeralIdentity('attacker');
});

t.test('a tokenless hello/start flood does not cost genuine hellos', async (t) => {
  const genuine = genuineClient({ clusterName: cluster, token, identity: await createEphemeralIdentity('genuine'), localAddress: addr(50) });
  const sources = Array.from({ length: 10 }, (_, i) => addr(100 + i));
  const flood = floodHelloStarts({ host: node.address, port: 2390, sources, connectionsPerSource: 30, identity: attacker, clusterName: cluster });
  let result: Awaited<ReturnType<typeof flood.stop>> | undefined;
  const failures: string[] = [];
  try {
    await new Promise((r) => setTimeout(r, 1000)); // let the flood reach full speed
    // 10 hellos, 5 at a time: each waits behind the flood's queue, which is slow on a busy machine.
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        for (let i = 0; i < 2; i++) {
          try {
            await genuine.client.hello(endpointOf(node.address));
          } catch (err) {
            failures.push(isAgentError(err) ? `${err.code}: ${err.message}` : String(err));
          }
        }
      }),
    );
  } finally {
    result = await flood.stop();
  }
  t.comment(`flood: ${result.answered} hello/starts answered (${result.perSecond}/s), ${result.failed} failed, from 300 connections`);
  t.ok(result.answered > 1000, 'the flood was a flood');
  t.same(failures, [], 'all 10 genuine hellos succeeded during the flood');
  t.equal((await httpGet(node.address, node.statusPort, '/healthz')).status, 200);
});

t.test('a slowloris from one source does not starve health probes or genuine hellos', async (t) => {
  const genuine = genuineClient({ clusterName: cluster, token, identity: await createEphemeralIdentity('genuine2'), localAddress: addr(51) });
  const idle = await openIdleConnections(node.address, 2390, addr(60), 1100);
  t.teardown(() => idle.close());
  const health = probeLoop(200, async () => {
    const r = await httpGet(node.address, node.statusPort, '/healthz');
    if (r.status !== 200) throw new Error(`/healthz ${r.status}`);
  });
  const hellos = probeLoop(300, async () => {
    await genuine.client.hello(endpointOf(node.address));
  });
  await new Promise((r) => setTimeout(r, 4000));
  const h = await health.stop();
  const g = await hellos.stop();
  t.comment(`slowloris: ${idle.opened} idle connections opened; health ${h.ok} ok; hellos ${g.ok} ok`);
  t.same(h.failures, [], `every /healthz probe answered (${h.ok})`);
  t.ok(h.ok >= 10, 'health was probed throughout');
  t.same(g.failures, [], `every genuine hello succeeded (${g.ok})`);
  t.ok(g.ok >= 5, 'hellos were tried throughout');
  const early = idle.closedByServer().filter((ms) => ms < 2000).length;
  t.ok(early >= 1000, `the agent refused most connections from the one source at once (${early} closed within 2 s)`);
  // Idle connections that never start TLS are closed by the handshake timeout, not kept for minutes.
  await waitFor('the agent to close every idle connection', () => idle.closedByServer().length === 1100, {
    timeoutMs: 15_000,
    describe: () => `${idle.closedByServer().length} of 1100 closed`,
  });
  t.pass('every idle connection was closed by the agent');
});

t.test('token holders with ever new node ids do not grow the peer table without bound', async (t) => {
  const before = JSON.stringify(await set.status(node)).length;
  const identities = await Promise.all(Array.from({ length: 100 }, (_, i) => quickIdentity(`insider${i}`)));
  let refused = 0;
  for (const [i, identity] of identities.entries()) {
    const insider = genuineClient({
      clusterName: cluster,
      token,
      identity,
      localAddress: addr(70),
      nodeId: randomBytes(16).toString('hex'),
      name: `insider${i}`,
    });
    try {
      await insider.client.hello(endpointOf(node.address));
    } catch {
      refused += 1;
    }
  }
  const status = await set.status(node);
  const size = JSON.stringify(status).length;
  t.comment(`100 insider hellos (${refused} refused): ${status.peers.length} peers in /status, ${before} → ${size} bytes`);
  t.ok(status.peers.length <= 64 + 2, `the peer table stays bounded (${status.peers.length} ≤ 66, seeds included)`);
  t.ok(size < 40_000, `/status stays small (${size} bytes)`);
  t.equal((await httpGet(node.address, node.statusPort, '/healthz')).status, 200);
});
