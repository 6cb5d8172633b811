/**
 * What a caller learns before it proves the join token, on a real agent: a
 * hello/start answer carries only the server nonce, a hello for another
 * cluster is refused without naming ours, and hostile strings (terminal
 * escapes) neither get into /status nor onto the operator's terminal.
 */
import t from 'tap';
import { createEphemeralIdentity, generateToken, newNonce, type TlsIdentity } from '../../src/pki/index.js';
import { peerHttps, type PeerAnswer } from '../helpers/peer-https.js';
import { NodeSet, cli, type TestNode } from '../helpers/agents.js';
import { endpointOf, genuineClient } from '../helpers/peer-load.js';
import { waitFor } from '../helpers/wait.js';

const SUBNET = 114;
const token = generateToken();
const cluster = 'preauth';
const set = new NodeSet({ subnet: SUBNET, count: 1, size: 3, token, cluster });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

/** A JSON POST to the peer API with `identity`'s certificate. */
function post(host: string, path: string, body: unknown, identity: TlsIdentity): Promise<PeerAnswer> {
  return peerHttps(host, 'POST', path, JSON.stringify(body), identity);
}

let node: TestNode;
let me: TlsIdentity;

t.before(async () => {
  // Its own address is among its seeds: it must recognise itself without anyone telling it who they are.
  await set.init(() => ['--seeds', `127.0.${SUBNET}.11,127.0.${SUBNET}.12`]);
  node = set.nodes[0]!;
  set.start(node);
  await waitFor('agent to wait for peers', async () => (await set.status(node)).phase === 'discovering', { timeoutMs: 15_000 });
  me = await createEphemeralIdentity('stranger');
});

t.test('hello/start tells a caller without the token nothing but a nonce', async (t) => {
  const status = await set.status(node);
  const started = await post(node.address, '/v1/hello/start', { clusterName: cluster, clientNonce: newNonce() }, me);
  t.equal(started.status, 200);
  t.same(Object.keys(started.body), ['serverNonce'], 'only the server nonce');
  // The nonce is random base64url: it may spell "n1" by chance, so look at the rest.
  const rest = started.text.replace(String(started.body.serverNonce), '');
  for (const secret of [status.node.id, status.node.name, status.version, node.address]) {
    t.notOk(rest.includes(secret), `the answer does not contain ${secret}`);
  }

  const other = await post(node.address, '/v1/hello/start', { clusterName: 'someone-else', clientNonce: newNonce() }, me);
  t.equal(other.status, 403, 'another cluster name is refused');
  t.equal(other.body.code, 'EA_PEER_CLUSTER_MISMATCH');
  t.notOk(other.text.includes(cluster), `the refusal does not name this cluster: ${other.text}`);
  await waitFor('the refusal in /status', async () => (await set.status(node)).refusals.some((r) => r.reason.includes('someone-else')), { timeoutMs: 5000 });
});

t.test('a genuine hello still works, and the agent recognises itself among its seeds', async (t) => {
  const genuine = genuineClient({ clusterName: cluster, token, identity: await createEphemeralIdentity('genuine'), localAddress: `127.0.${SUBNET}.50` });
  const session = await genuine.client.hello(endpointOf(node.address));
  const status = await set.status(node);
  t.equal(session.info.nodeId, status.node.id, 'the authenticated answer says who it is');
  t.equal(session.info.clusterName, cluster);
  await waitFor(
    'the agent to have tried its seeds',
    async () => (await set.status(node)).peers.some((p) => p.endpoint === `127.0.${SUBNET}.12:2390` && p.error),
    { timeoutMs: 15_000 },
  );
  const after = await set.status(node);
  t.notOk(after.peers.some((p) => p.endpoint === `${node.address}:2390`), 'its own address is not listed as a peer');
  t.notOk(after.reason.includes(`${node.address}:2390`), `its own address is no problem: ${after.reason}`);
});

t.test('hostile strings are refused at the schema and never reach the terminal', async (t) => {
  const ESC = '\u001b';
  const hostile = `x${ESC}[2J${ESC}]0;owned${ESC}\\`;
  const start = await post(node.address, '/v1/hello/start', { clusterName: hostile, clientNonce: newNonce() }, me);
  t.equal(start.status, 400, 'a cluster name with control characters is malformed');
  t.equal(start.body.code, 'EA_PEER_BAD_REQUEST');
  t.notOk(start.text.includes(ESC), 'the answer does not echo the escape');
  t.notOk(start.text.includes('\\u001b'), 'not even JSON-escaped');

  const ok = await post(node.address, '/v1/hello/start', { clusterName: cluster, clientNonce: newNonce() }, me);
  const info = {
    protocol: 1, clusterName: cluster, nodeId: 'f'.repeat(32), name: 'intruder', address: '127.0.114.66',
    peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379, version: `1.0${ESC}[31m`, stage: 'fresh',
  };
  const finish = await post(node.address, '/v1/hello/finish', { serverNonce: ok.body.serverNonce, proof: 'A'.repeat(43), info }, me);
  t.equal(finish.status, 400, 'a version with control characters is malformed');

  const status = await set.status(node);
  t.notOk(JSON.stringify(status).includes('\\u001b'), 'no escape character anywhere in /status');
  const printed = cli(['status', '--address', `${node.address}:${node.statusPort}`]);
  t.match(printed.stdout, /REFUSED/, 'the refusals are printed');
  t.notOk(printed.stdout.includes(ESC), 'etcd-agent status prints no escape character');
});
