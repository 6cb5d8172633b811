import t from 'tap';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guardConnections, openFileLimit, peerApiLimits } from '../../src/agent/peer/limits.js';
import { waitFor } from '../helpers/wait.js';

// Loopback addresses of this change's own /24 (see test/helpers/agents.ts for the rule).
const HOST = '127.0.104.1';
const source = (i: number): string => `127.0.104.${200 + i}`;

t.test('limits leave descriptors in reserve', async (t) => {
  t.equal(peerApiLimits(1024).connections, 512, '1024 descriptors: 512 for the peer API, 512 kept');
  t.equal(peerApiLimits(65536).connections, 512, 'never more than 512');
  t.equal(peerApiLimits(300).connections, 44, 'a small limit: 256 kept');
  t.equal(peerApiLimits(100).connections, 16, 'a floor, however small');
  t.equal(peerApiLimits(undefined).connections, 512);
  const l = peerApiLimits(1024);
  t.ok(l.connectionsPerSource < l.connections);
  t.ok(l.pendingHellosPerSource < l.pendingHellos);
  t.ok(l.headersTimeoutMs <= l.requestTimeoutMs, 'node wants headersTimeout ≤ requestTimeout');
});

t.test('the open file limit is read from /proc', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'limits');
  writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n');
  t.equal(openFileLimit(file), 1024);
  writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
  t.equal(openFileLimit(file), Number.MAX_SAFE_INTEGER);
  t.equal(openFileLimit(join(dir, 'missing')), undefined);
  if (process.platform === 'linux') t.ok((openFileLimit() ?? 0) > 0, 'this process has one');
});

/** Opens `count` connections from `from`; resolves with the sockets once each is connected or closed. */
async function open(port: number, from: string, count: number): Promise<{ sockets: Socket[]; closed: () => number }> {
  let closed = 0;
  const sockets = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Socket>((resolve) => {
        const s = connect({ host: HOST, port, localAddress: from });
        s.on('error', () => undefined);
        s.once('close', () => {
          closed += 1;
        });
        s.once('connect', () => resolve(s));
        s.once('close', () => resolve(s));
      }),
    ),
  );
  return { sockets, closed: () => closed };
}

t.test('connections: per source, and a full server makes room for a quieter source', async (t) => {
  const server = createServer((socket) => socket.on('error', () => undefined));
  const refusals: string[] = [];
  const guard = guardConnections(server, { connections: 8, connectionsPerSource: 5 }, (src, reason) => refusals.push(`${src}: ${reason}`));
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const all: Socket[] = [];
  t.teardown(async () => {
    for (const s of all) s.destroy();
    await new Promise((r) => server.close(r));
  });
  const port = (server.address() as AddressInfo).port;

  const a = await open(port, source(1), 7);
  all.push(...a.sockets);
  await waitFor('the server to refuse the extra connections from one source', () => a.closed() === 2, { timeoutMs: 5000 });
  t.equal(guard.open().get(source(1)), 5, 'five kept');
  t.match(refusals[0], /more than 5 open connections from one source/);

  const b = await open(port, source(2), 3);
  all.push(...b.sockets);
  await waitFor('the total to be kept', () => [...guard.open().values()].reduce((x, y) => x + y, 0) === 8 && a.closed() === 2, { timeoutMs: 5000 });
  t.same(Object.fromEntries(guard.open()), { [source(1)]: 5, [source(2)]: 3 }, 'eight in all');

  const c = await open(port, source(3), 1);
  all.push(...c.sockets);
  await waitFor('room made for the newcomer', () => guard.open().get(source(3)) === 1, { timeoutMs: 5000 });
  await waitFor('the busiest source to lose its oldest', () => a.closed() === 3, { timeoutMs: 5000 });
  t.equal(guard.open().get(source(1)), 4);

  // Shares are level now (4, 3, 1): a newcomer from a source with 3 would only take from one with 4.
  const d = await open(port, source(2), 1);
  all.push(...d.sockets);
  await waitFor('a source as busy as the rest to be refused', () => d.closed() === 1, { timeoutMs: 5000 });
  t.equal(guard.open().get(source(2)), 3);
  t.match(refusals.at(-1), /127\.0\.104\.202: the peer API has 8 open connections, its limit/);
  t.equal([...guard.open().values()].reduce((x, y) => x + y, 0), 8, 'never more than the total');
});
