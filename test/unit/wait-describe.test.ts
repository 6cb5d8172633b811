/** A wait that times out names what it awaited and, without its own describe, what the running agent sets say. */
import t from 'tap';
import { registerDescriber, waitFor } from '../helpers/wait.js';

const never = (): false => false;

t.test('a timed-out wait prints the registered describers, and only while registered', async (t) => {
  const leave = registerDescriber(async () => 'n1: formed: the cluster is healthy');
  const failing = registerDescriber(async () => {
    throw new Error('status unavailable');
  });
  await t.rejects(waitFor('the impossible', never, { timeoutMs: 30, intervalMs: 10 }), {
    message: /timed out after 30 ms waiting for the impossible\nn1: formed: the cluster is healthy\n\(could not describe: Error: status unavailable\)/,
  });
  leave();
  failing();
  const err = await waitFor('the impossible', never, { timeoutMs: 30, intervalMs: 10 }).catch((e: unknown) => e);
  t.match(String(err), /waiting for the impossible$/, 'nothing registered: only what was awaited');
});

t.test("a wait's own describe is printed instead of the registered ones", async (t) => {
  const leave = registerDescriber(async () => 'the whole set');
  t.teardown(leave);
  const err = await waitFor('n2 to join', never, { timeoutMs: 30, intervalMs: 10, describe: () => 'n2: enrolling' }).catch((e: unknown) => e);
  t.match(String(err), /waiting for n2 to join\nn2: enrolling$/);
  t.notMatch(String(err), /the whole set/);
});

t.test('the last error of the check is kept', async (t) => {
  let calls = 0;
  const err = await waitFor('a flaky check', () => {
    calls += 1;
    throw new Error(`refused ${calls}`);
  }, { timeoutMs: 30, intervalMs: 10 }).catch((e: unknown) => e);
  t.match(String(err), /last error: Error: refused \d+/);
  t.ok(calls >= 2, `polled more than once (${calls})`);
});
