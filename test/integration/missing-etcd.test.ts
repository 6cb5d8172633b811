/**
 * A node that cannot run etcd stays out of the election: its peer API stays
 * closed and /status says why, naming the binary; once etcd is there, it joins in.
 */
import t from 'tap';
import { connect } from 'node:net';
import { copyFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

const set = new NodeSet({ subnet: 44, count: 1, size: 3, token: generateToken(), cluster: 'noetcd' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

t.test('missing etcd: no seat in the election, a reason that names the binary', async (t) => {
  let binary = '';
  await set.init((n) => {
    binary = join(n.root, 'usr', 'bin', 'etcd');
    return ['--seeds', '127.0.44.12,127.0.44.13', '--etcd-binary', binary];
  });
  const node = set.nodes[0]!;
  set.start(node);
  const s = await waitFor('a reason naming the missing binary', async () => {
    const r = await set.status(node);
    return r.phase === 'starting' && r.reason.includes(binary) ? r : undefined;
  }, { timeoutMs: 15_000, describe: () => set.describe() });
  t.match(s.reason, /cannot be run \(no such file\); install etcd/);
  t.match(s.reason, /peer API is closed/);
  t.equal(await portOpen(node.address, 2390), false, 'the peer API does not listen, so no peer counts this node');
  t.match(readFileSync(node.logFile, 'utf8'), /"level":40.*cannot be run \(no such file\)/, 'the log says it too');

  await copyFile('/usr/bin/etcd', binary).catch(async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(node.root, 'usr', 'bin'), { recursive: true });
    await copyFile('/usr/bin/etcd', binary);
  });
  await waitFor('the peer API to open once etcd is there', () => portOpen(node.address, 2390), { timeoutMs: 15_000 });
  const later = await set.status(node);
  t.equal(later.phase, 'discovering', 'it takes part now');
  await rm(binary, { force: true });
});
