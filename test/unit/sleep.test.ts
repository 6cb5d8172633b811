import t from 'tap';
import { Waker, backoffMs } from '../../src/util/sleep.js';

t.test('wake cuts a sleep short', async (t) => {
  const w = new Waker();
  const started = Date.now();
  const p = w.sleep(10_000);
  setTimeout(() => w.wake(), 20);
  await p;
  t.ok(Date.now() - started < 5000);
});

t.test('a wake while nobody sleeps is kept for the next sleep, once', async (t) => {
  const w = new Waker();
  w.wake();
  const started = Date.now();
  await w.sleep(10_000);
  t.ok(Date.now() - started < 1000, 'the kept wake returns at once');
  const second = Date.now();
  await w.sleep(50);
  t.ok(Date.now() - second >= 40, 'and is used up');
});

t.test('backoff doubles up to its bound', async (t) => {
  t.same([1, 2, 3, 4, 10].map((n) => backoffMs(n)), [1000, 2000, 4000, 8000, 30_000]);
});
