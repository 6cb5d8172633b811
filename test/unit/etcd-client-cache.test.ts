import t from 'tap';
import { ClientCache, type CreatedClient } from '../../src/etcd/client-cache.js';
import { connectionsReady } from '../../src/etcd/client.js';
import type { Etcd3 } from 'etcd3';

interface Fake {
  id: number;
  closed: boolean;
  ready: boolean;
}

function harness(options: { maxAgeMs?: number; idleMs?: number } = {}) {
  let clock = 1_000_000;
  let made = 0;
  const all: Fake[] = [];
  const cache = new ClientCache<Fake>({
    close: (c) => {
      if (c.closed) throw new Error(`client ${c.id} closed twice`);
      c.closed = true;
    },
    reusable: (c) => c.ready,
    maxAgeMs: options.maxAgeMs ?? 300_000,
    idleMs: options.idleMs ?? 60_000,
    now: () => clock,
  });
  const create = (shareable = true) => async (): Promise<CreatedClient<Fake>> => {
    const c: Fake = { id: ++made, closed: false, ready: true };
    all.push(c);
    return { client: c, shareable };
  };
  return {
    cache,
    create,
    all,
    made: () => made,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

t.test('one client per key, reused while its connections are up', async (t) => {
  const h = harness();
  const a = await h.cache.acquire('k', 'g', h.create());
  a.release(true);
  const b = await h.cache.acquire('k', 'g', h.create());
  t.equal(b.client, a.client, 'the same client is handed out again');
  b.release(true);
  t.equal(h.made(), 1);
  t.equal(h.cache.size(), 1);
  t.notOk(a.client.closed);
});

t.test('a client whose connections are down is closed and made anew (its probe runs again)', async (t) => {
  const h = harness();
  const a = await h.cache.acquire('k', 'g', h.create());
  a.release(true);
  a.client.ready = false;
  const b = await h.cache.acquire('k', 'g', h.create());
  t.not(b.client, a.client);
  t.ok(a.client.closed, 'the old client is closed');
  b.release(true);
  t.equal(h.made(), 2);
});

t.test('a failed call retires its client; calls still using it keep it until they end', async (t) => {
  const h = harness();
  const a = await h.cache.acquire('k', 'g', h.create());
  const b = await h.cache.acquire('k', 'g', h.create());
  t.equal(b.client, a.client, 'concurrent calls share the client');
  a.release(false);
  t.notOk(a.client.closed, 'not closed under a call still running');
  const c = await h.cache.acquire('k', 'g', h.create());
  t.not(c.client, a.client, 'a new call gets a new client');
  b.release(true);
  t.ok(a.client.closed, 'closed once the last call ended');
  c.release(true);
  t.notOk(c.client.closed);
});

t.test('new TLS material (another key for the same endpoints) retires the old client', async (t) => {
  const h = harness();
  const a = await h.cache.acquire('ep|fp1', 'ep', h.create());
  a.release(true);
  const b = await h.cache.acquire('ep|fp2', 'ep', h.create());
  t.ok(a.client.closed, 'the client with the old certificate is closed');
  t.notOk(b.client.closed);
  b.release(true);
  const other = await h.cache.acquire('ep2|fp2', 'ep2', h.create());
  other.release(true);
  t.notOk(b.client.closed, 'other endpoints do not retire it');
  t.equal(h.cache.size(), 2);
});

t.test('max age and idle time bound how long a client lives', async (t) => {
  const h = harness({ maxAgeMs: 10_000, idleMs: 5_000 });
  const a = await h.cache.acquire('k', 'g', h.create());
  a.release(true);
  h.advance(4_000);
  const b = await h.cache.acquire('k', 'g', h.create());
  t.equal(b.client, a.client);
  b.release(true);
  h.advance(4_000);
  const c = await h.cache.acquire('k', 'g', h.create());
  t.equal(c.client, a.client, 'used 4 s ago, 8 s old: still reused');
  c.release(true);
  h.advance(2_500);
  const d = await h.cache.acquire('k', 'g', h.create());
  t.not(d.client, a.client, 'older than max age: a new one');
  t.ok(a.client.closed);
  d.release(true);
  const e = await h.cache.acquire('other', 'o', h.create());
  e.release(true);
  h.advance(6_000);
  const f = await h.cache.acquire('third', 't', h.create());
  t.ok(d.client.closed && e.client.closed, 'unused for longer than idleMs: closed at the next acquire');
  f.release(true);
  t.equal(h.cache.size(), 1);
});

t.test('a client made from part of the endpoints serves its call only', async (t) => {
  const h = harness();
  const a = await h.cache.acquire('k', 'g', h.create(false));
  t.equal(h.cache.size(), 0);
  a.release(true);
  t.ok(a.client.closed);
  const b = await h.cache.acquire('k', 'g', h.create());
  t.not(b.client, a.client);
  b.release(true);
});

t.test('a failed creation fails every caller waiting for it and is not cached', async (t) => {
  const h = harness();
  let fail!: (err: Error) => void;
  const pending = new Promise<CreatedClient<Fake>>((_, reject) => {
    fail = reject;
  });
  const first = h.cache.acquire('k', 'g', () => pending);
  const second = h.cache.acquire('k', 'g', h.create());
  fail(new Error('TLS handshake not completed before the deadline'));
  await t.rejects(first, /TLS handshake/);
  await t.rejects(second, /TLS handshake/, 'a concurrent caller waited for the same creation');
  t.equal(h.cache.size(), 0);
  const third = await h.cache.acquire('k', 'g', h.create());
  t.equal(third.client.id, 1);
  third.release(true);
});

t.test('retireAll closes idle clients at once and busy ones when their call ends; release is idempotent', async (t) => {
  const h = harness();
  const idle = await h.cache.acquire('a', 'a', h.create());
  idle.release(true);
  const busy = await h.cache.acquire('b', 'b', h.create());
  h.cache.retireAll();
  t.ok(idle.client.closed);
  t.notOk(busy.client.closed);
  t.equal(h.cache.size(), 0);
  busy.release(true);
  busy.release(true);
  t.ok(busy.client.closed);
});

t.test('a client created while everything was retired is closed when its caller releases it', async (t) => {
  const h = harness();
  let finish!: (c: CreatedClient<Fake>) => void;
  const pending = new Promise<CreatedClient<Fake>>((resolve) => {
    finish = resolve;
  });
  const acquiring = h.cache.acquire('k', 'g', () => pending);
  h.cache.retireAll();
  const c: Fake = { id: 99, closed: false, ready: true };
  finish({ client: c, shareable: true });
  const lease = await acquiring;
  t.notOk(c.closed);
  lease.release(true);
  t.ok(c.closed);
});

t.test('connectionsReady reads etcd3 internals defensively', async (t) => {
  const channel = (state: number) => ({ getConnectivityState: () => state });
  const service = (state: number) => ({ getChannel: () => channel(state) });
  const client = (hosts: unknown): Etcd3 => ({ pool: { hosts } }) as unknown as Etcd3;
  t.ok(connectionsReady(client([{ cachedServices: { KV: service(2), Cluster: service(2) } }])), 'every channel READY');
  t.notOk(connectionsReady(client([{ cachedServices: { KV: service(2), Cluster: service(0) } }])), 'one channel IDLE (would dial)');
  t.notOk(connectionsReady(client([{ cachedServices: { KV: service(2) } }, { cachedServices: {} }])), 'a host never dialled');
  t.notOk(connectionsReady(client([])), 'no hosts');
  t.notOk(connectionsReady({} as unknown as Etcd3), 'no pool (etcd3 internals changed)');
  t.notOk(connectionsReady(client([{ cachedServices: { KV: {} } }])), 'no getChannel');
});
