/**
 * The peer API under load, on a real agent limited to 1024 file descriptors:
 * a tokenless hello/start flood from many keep-alive connections, a slowloris
 * of idle connections from one source, and token holders saying hello with
 * ever new node ids. Genuine hellos and the status API keep answering, and
 * nothing the attackers send grows without bound. Load is kept to seconds.
 */
import t from 'tap';
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
  attacker = await quickIdentity('attacker');
});

t.test('a tokenless hello/start flood does not cost genuine hellos', async (t) => {
  const genuine = genuineClient({
    clusterName: cluster,
    token,
    identity: await createEphemeralIdentity('genuine'),
    localAddress: addr(50),
    // Each request waits behind the flood's; on a busy machine that takes seconds (the agent's own client waits 5 s).
    timeoutMs: 30_000,
  });
  const sources = Array.from({ length: 10 }, (_, i) => addr(100 + i));
  const flood = floodHelloStarts({ host: node.address, port: 2390, sources, connectionsPerSource: 30, identity: attacker, clusterName: cluster });
  let result: Awaited<ReturnType<typeof flood.stop>> | undefined;
  const failures: string[] = [];
  const latencies: number[] = [];
  try {
    // Genuine hellos only once the flood runs at speed (its 300 handshakes take a while on a busy machine).
    const from = flood.answered();
    await waitFor('the flood to reach speed', () => flood.answered() - from >= 1500, { timeoutMs: 30_000, intervalMs: 100 });
    // 8 hellos at once (the issue saw 16 of 25 fail; today's code fails all 8 but by luck one in thousands).
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const t0 = Date.now();
        try {
          await genuine.client.hello(endpointOf(node.address));
          latencies.push(Date.now() - t0);
        } catch (err) {
          failures.push(isAgentError(err) ? `${err.code}: ${err.message}` : String(err));
        }
      }),
    );
  } finally {
    result = await flood.stop();
  }
  t.comment(`flood: ${result.answered} hello/starts answered (${result.perSecond}/s), ${result.failed} failed, from 300 connections`);
  t.comment(`genuine hellos took ${Math.min(...latencies)}–${Math.max(...latencies)} ms`);
  t.ok(result.answered > 1000, 'the flood was a flood');
  t.same(failures, [], 'all 8 genuine hellos succeeded during the flood');
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
  const early = idle.closedByServer().filter((ms) => ms < 3000).length;
  t.ok(early >= 1000, `the agent refused most connections from the one source at once (${early} closed within 3 s of opening)`);
  // Idle connections that never start TLS are closed by the handshake timeout, not kept for minutes.
  await waitFor('the agent to close every idle connection', () => idle.closedByServer().length === 1100, {
    timeoutMs: 15_000,
    describe: () => `${idle.closedByServer().length} of 1100 closed`,
  });
  t.pass('every idle connection was closed by the agent');
});

t.test('token holders with ever new keys (so new node ids) do not grow the peer table without bound', async (t) => {
  // Enough to overflow a table of 64 (2 genuine peers are known already); each one costs a hello.
  const INSIDERS = 80;
  const before = JSON.stringify(await set.status(node)).length;
  const t1 = Date.now();
  const identities = await Promise.all(Array.from({ length: INSIDERS }, (_, i) => quickIdentity(`insider${i}`)));
  t.comment(`${INSIDERS} identities in ${Date.now() - t1} ms`);
  let refused = 0;
  const t0 = Date.now();
  const lanes = 8;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < identities.length; i += lanes) {
        const insider = genuineClient({
          clusterName: cluster,
          token,
          identity: identities[i]!,
          localAddress: addr(70),
          name: `insider${i}`,
        });
        try {
          await insider.client.hello(endpointOf(node.address));
        } catch {
          refused += 1;
        }
      }
    }),
  );
  t.comment(`insider hellos took ${Date.now() - t0} ms`);
  const status = await set.status(node);
  const size = JSON.stringify(status).length;
  t.comment(`${INSIDERS} insider hellos (${refused} refused): ${status.peers.length} peers in /status, ${before} → ${size} bytes`);
  t.ok(status.peers.length <= 64 + 2, `the peer table stays bounded (${status.peers.length} ≤ 66, seeds included)`);
  t.ok(size < 40_000, `/status stays small (${size} bytes)`);
  t.equal((await httpGet(node.address, node.statusPort, '/healthz')).status, 200);
});
