import t from 'tap';
import { PendingHellos } from '../../src/agent/peer/hello-table.js';
import { sourceKey } from '../../src/agent/peer/source.js';
import { Throttle } from '../../src/agent/peer/throttle.js';

const hello = (n: number): { clientFingerprint: string; clientNonce: string } => ({ clientFingerprint: `fp${n}`, clientNonce: `nonce${n}` });

t.test('a nonce is single use, and its hello is found only once', async (t) => {
  const table = new PendingHellos({ ttlMs: 30_000, perSource: 16, total: 1024 });
  const nonce = table.issue('10.0.0.1', hello(1));
  t.match(nonce, /^[A-Za-z0-9_-]{51}$/, 'fits the protocol nonce pattern');
  t.same(table.take(nonce), { kind: 'found', hello: hello(1) });
  t.same(table.take(nonce), { kind: 'gone' }, 'used: ours, but gone');
  t.same(table.take('A'.repeat(51)), { kind: 'unknown' }, 'not issued here');
  t.same(table.take('short'), { kind: 'unknown' });
  const other = new PendingHellos({ ttlMs: 30_000, perSource: 16, total: 1024 });
  t.same(other.take(other.issue('10.0.0.1', hello(2)).replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))), { kind: 'unknown' }, 'a tampered nonce is not ours');
  t.same(table.take(other.issue('10.0.0.1', hello(3))), { kind: 'unknown' }, "another process's nonce is not ours");
});

t.test('an expired hello is gone, not unknown', async (t) => {
  let now = 1_000_000;
  const table = new PendingHellos({ ttlMs: 30_000, perSource: 16, total: 1024 }, () => now);
  const nonce = table.issue('10.0.0.1', hello(1));
  now += 30_001;
  t.same(table.take(nonce), { kind: 'gone' });
  const a = table.issue('10.0.0.1', hello(2));
  now += 31_000;
  table.issue('10.0.0.2', hello(3));
  t.equal(table.size, 1, 'expired entries are pruned as new ones come');
  t.same(table.take(a), { kind: 'gone' });
});

t.test('a flooding source only evicts its own hellos', async (t) => {
  const table = new PendingHellos({ ttlMs: 30_000, perSource: 16, total: 1024 });
  const genuine = table.issue('10.0.0.9', hello(0));
  const first = table.issue('10.0.0.66', hello(1));
  for (let i = 2; i < 5000; i++) table.issue('10.0.0.66', hello(i));
  t.equal(table.countFor('10.0.0.66'), 16, 'the flooder keeps 16');
  t.same(table.take(first), { kind: 'gone' }, "the flooder's oldest went");
  t.same(table.take(genuine), { kind: 'found', hello: hello(0) }, 'the genuine hello survived');
});

t.test('when the table is full, the source with the most pending loses its oldest', async (t) => {
  let now = 0;
  const table = new PendingHellos({ ttlMs: 30_000, perSource: 16, total: 64 }, () => now);
  const genuine = table.issue('192.0.2.1', hello(0));
  // 20 attacking sources with up to 16 each would be 320: the total stays 64, shared out.
  for (let round = 0; round < 16; round++) {
    for (let s = 0; s < 20; s++) {
      now += 1;
      table.issue(`10.0.0.${s}`, hello(round * 1000 + s));
    }
  }
  t.equal(table.size, 64);
  t.same(table.take(genuine), { kind: 'found', hello: hello(0) }, 'a source with one pending hello keeps it');
  const counts = Array.from({ length: 20 }, (_, s) => table.countFor(`10.0.0.${s}`));
  t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `the rest is shared evenly (${counts.join(' ')})`);

  // More sources than room: it can only fall back to oldest-first, which still drops the oldest of ties.
  const crowded = new PendingHellos({ ttlMs: 30_000, perSource: 16, total: 4 }, () => now);
  const nonces = Array.from({ length: 5 }, (_, i) => {
    now += 1;
    return crowded.issue(`10.1.0.${i}`, hello(i));
  });
  t.same(crowded.take(nonces[0]!), { kind: 'gone' }, 'the oldest went');
  t.same(crowded.take(nonces[4]!), { kind: 'found', hello: hello(4) });
});

t.test('sources: IPv4, IPv4-mapped, IPv6 per /64', async (t) => {
  t.equal(sourceKey('10.1.2.3'), '10.1.2.3');
  t.equal(sourceKey('::ffff:10.1.2.3'), '10.1.2.3');
  t.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.equal(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64', 'one /64, one source');
  t.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(sourceKey('::1'), '0:0:0:0::/64');
  t.equal(sourceKey(undefined), 'unknown');
});

t.test('throttle: a few per interval, then a count', async (t) => {
  let now = 0;
  const throttle = new Throttle(2, 10_000, () => now);
  t.same(throttle.pass(), { ok: true, heldBack: 0 });
  t.same(throttle.pass(), { ok: true, heldBack: 0 });
  t.same(throttle.pass(), { ok: false });
  t.same(throttle.pass(), { ok: false });
  now += 10_000;
  t.same(throttle.pass(), { ok: true, heldBack: 2 }, 'the next one says how many were held back');
  t.same(throttle.pass(), { ok: true, heldBack: 0 });
});
