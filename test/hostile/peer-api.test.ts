/**
 * Catalogue: hostile peer-API requests and TLS garbage against one real
 * agent (it waits for peers that never come, so its peer API stays in the
 * pre-authentication state every stranger meets). Each request is answered
 * with its expected refusal; afterwards the agent still runs, /healthz
 * answers, and no file under the node's root changed.
 */
import t from 'tap';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createEphemeralIdentity, generateToken, newNonce } from '../../src/pki/index.js';
import { peerHttps } from '../helpers/peer-https.js';
import { NodeSet, httpGet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';
import { snapshotTree, treeChanges } from './catalogue.js';
import { PEER_CASES, TLS_GARBAGE_CASES } from './peer-api-cases.js';

const set = new NodeSet({ subnet: 51, count: 1, size: 3, token: generateToken(), cluster: 'hostile' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

/** Writes `bytes` to the peer port (over TLS when asked) and resolves when the agent closes the connection (bounded). */
function rawExchange(host: string, bytes: Buffer, tls: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls
      ? tlsConnect({ host, port: 2390, rejectUnauthorized: false, servername: '' }, () => socket.write(bytes))
      : netConnect({ host, port: 2390 }, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('still open after 15 s');
    }, 15_000); // the agent's TLS handshake timeout is 10 s (docs/peer-api-limits.md)
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(`closed after ${Buffer.concat(chunks).length} bytes`);
    });
  });
}

t.test(`${PEER_CASES.length} hostile peer-API requests and TLS garbage: refused, agent unharmed, nothing changed`, async (t) => {
  await set.init(() => ['--seeds', '127.0.51.12,127.0.51.13']);
  const node = set.nodes[0]!;
  set.start(node);
  await waitFor('agent to wait for peers', async () => (await set.status(node)).phase === 'discovering', { timeoutMs: 15_000 });
  const before = await snapshotTree(node.root);
  const me = await createEphemeralIdentity('intruder');

  for (const c of PEER_CASES) {
    await t.test(c.name, async (t) => {
      const body = c.body?.replaceAll('{nonce}', newNonce());
      const headers = c.headers ?? (body === undefined ? {} : { 'content-type': 'application/json' });
      const answer = await peerHttps(node.address, c.method, c.path, body, c.cert === false ? undefined : me, headers);
      t.equal(answer.status, c.status, `status ${c.status} (got ${answer.status}: ${answer.text.slice(0, 200)})`);
      if (c.code !== undefined) t.equal(answer.body.code, c.code, 'error code');
      t.ok(typeof answer.body.code === 'string' && answer.body.code.startsWith('EA_') || c.method === 'HEAD', `a catalogued EA_ code (got ${String(answer.body.code)})`);
      if (c.method !== 'HEAD') t.ok(typeof answer.body.message === 'string' && answer.body.message.length > 10, `a message says why: ${answer.text.slice(0, 200)}`);
      t.notMatch(answer.text, /at [A-Za-z]+ \(|node:internal|\/src\//, 'no stack trace or source path in the answer');
    });
  }

  for (const g of TLS_GARBAGE_CASES) {
    await t.test(g.name, async (t) => {
      const outcome = await rawExchange(node.address, g.bytes, g.tls);
      t.match(outcome, /^closed/, `the agent closes the connection (${outcome})`);
      t.equal((await httpGet(node.address, 2391, '/healthz')).status, 200, 'and stays alive');
    });
  }

  const status = await set.status(node);
  t.equal(status.phase, 'discovering', 'the agent carries on where it was');
  t.equal((await httpGet(node.address, 2391, '/healthz')).status, 200, '/healthz answers');
  t.same(treeChanges(before, await snapshotTree(node.root)).filter((c) => !c.endsWith('etcd.log')), [], 'no file under the node root changed');
});
