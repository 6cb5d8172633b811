/**
 * The peer API against hostile input, on a real agent: no client certificate,
 * oversized and malformed bodies, unknown fields, skipped hellos, replayed
 * nonces, the wrong cluster. Each is refused with a reason; the agent keeps
 * running and no file it manages changes.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createEphemeralIdentity, generateToken, newNonce } from '../../src/pki/index.js';
import { peerHttps } from '../helpers/peer-https.js';
import { NodeSet, httpGet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

const set = new NodeSet({ subnet: 43, count: 1, size: 3, token: generateToken(), cluster: 'hostile' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

const call = peerHttps;

function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (e === 'etcd.log') continue;
      if (statSync(p).isDirectory()) walk(p);
      else out[p] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

t.test('hostile requests are refused with reasons and change nothing', async (t) => {
  // Its would-be peers never start: the agent stays in discovery throughout.
  await set.init(() => ['--seeds', '127.0.43.12,127.0.43.13']);
  const node = set.nodes[0]!;
  set.start(node);
  await waitFor('agent to wait for peers', async () => (await set.status(node)).phase === 'discovering', { timeoutMs: 15_000 });
  const before = snapshot(node.root);
  const me = await createEphemeralIdentity('intruder');
  const host = node.address;
  const start = (cluster = 'hostile', nonce = newNonce()): string => JSON.stringify({ clusterName: cluster, clientNonce: nonce });

  const noCert = await call(host, 'POST', '/v1/hello/start', start(), undefined);
  t.equal(noCert.status, 400, 'no client certificate');
  t.match(noCert.body.message, /client certificate/);

  const huge = await call(host, 'POST', '/v1/hello/start', JSON.stringify({ clusterName: 'x'.repeat(200_000), clientNonce: newNonce() }), me);
  t.equal(huge.status, 413, 'oversized body refused before parsing');

  const garbage = await call(host, 'POST', '/v1/hello/start', '{"clusterName": ', me);
  t.equal(garbage.status, 400, 'malformed JSON');

  const extra = await call(host, 'POST', '/v1/hello/start', JSON.stringify({ clusterName: 'hostile', clientNonce: newNonce(), admin: true }), me);
  t.equal(extra.status, 400, 'unknown field');
  t.equal(extra.body.code, 'EA_PEER_BAD_REQUEST');

  const otherCluster = await call(host, 'POST', '/v1/hello/start', start('someone-else'), me);
  t.equal(otherCluster.status, 403, 'another cluster name');
  t.equal(otherCluster.body.code, 'EA_PEER_CLUSTER_MISMATCH');

  const view = await call(host, 'GET', '/v1/view', undefined, me, {});
  t.equal(view.status, 401, 'view without hello');
  t.equal(view.body.code, 'EA_PEER_HELLO_REQUIRED');

  const csr = '-----BEGIN CERTIFICATE REQUEST-----\n' + 'A'.repeat(100) + '\n-----END CERTIFICATE REQUEST-----\n';
  const enroll = await call(host, 'POST', '/v1/enroll', JSON.stringify({ nodeCsr: csr, clientCsr: csr }), me);
  t.equal(enroll.status, 401, 'enroll without hello');

  const started = await call(host, 'POST', '/v1/hello/start', start(), me);
  t.equal(started.status, 200, 'a hello start is answered (it reveals no secret)');
  t.notOk('proof' in started.body, 'the server proves nothing before the client has');
  const serverNonce = String(started.body.serverNonce);
  // The start answer says nothing about the agent (protocol 2); the intruder makes up its own info.
  t.notOk('info' in started.body, 'no info before the token is proved');
  const info = {
    protocol: 2, clusterName: 'hostile', nodeId: 'f'.repeat(32), name: 'intruder', address: '127.0.43.66',
    peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379, version: '0.1.0', stage: 'fresh',
  };
  t.notMatch(JSON.stringify(started.body), /eat1_/, 'no token in the answer');
  const forged = { serverNonce, proof: 'A'.repeat(43), info: { ...info, nodeId: 'f'.repeat(32), name: 'intruder', stage: 'fresh' } };
  const finish = await call(host, 'POST', '/v1/hello/finish', JSON.stringify(forged), me);
  t.equal(finish.status, 403, 'a wrong proof is refused');
  t.equal(finish.body.code, 'EA_PEER_TOKEN_PROOF');
  const replay = await call(host, 'POST', '/v1/hello/finish', JSON.stringify(forged), me);
  t.equal(replay.status, 403, 'the server nonce is single-use');

  const other = await createEphemeralIdentity('relay');
  const s2 = await call(host, 'POST', '/v1/hello/start', start(), me);
  const relayed = await call(host, 'POST', '/v1/hello/finish', JSON.stringify({ ...forged, serverNonce: String(s2.body.serverNonce) }), other);
  t.equal(relayed.status, 403, 'a finish from another certificate than the start is refused');

  const status = await set.status(node);
  t.equal(status.phase, 'discovering', 'the agent carries on');
  t.ok(status.refusals.some((r) => /wrong join token/.test(r.reason)), 'the refusal is visible in /status');
  t.equal((await httpGet(node.address, 2391, '/healthz')).status, 200);
  t.same(snapshot(node.root), before, 'no file under the node root changed');
});
