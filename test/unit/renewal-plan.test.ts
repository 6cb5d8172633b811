/**
 * When a node renews its certificates and when /readyz warns: renewal at 2/3
 * of the lifetime plus at most 1/20 of it, measured from the moment of
 * signing (not from the backdated notBefore); retries spaced by the lifetime;
 * a warning only inside pki.expiryWarning.
 */
import t from 'tap';
import { clockOffsetMs, expiryWarning, renewalTime, retryDelayMs } from '../../src/agent/certs/renewal-plan.js';
import { createCa, createCsr, generateKeyPair, leafLifetime, nodeSubjectNames, parseCsr, signCsr, certificateInfo } from '../../src/pki/index.js';

const MIN = 60_000;
const DAY = 86_400_000;

t.test('the lifetime of a leaf is what the CA granted, not notBefore..notAfter', async (t) => {
  const ca = await createCa('unit', 10);
  const key = await generateKeyPair();
  const csr = parseCsr(createCsr(key, nodeSubjectNames('n1', ['10.0.0.1'])));
  const ca2 = await createCa('unit', 3650);
  for (const validityMs of [2 * MIN, 3 * MIN, 12 * 3_600_000, 365 * DAY]) {
    const info = certificateInfo(signCsr(ca2, csr, { profile: 'node', validityMs, now: new Date() }));
    const life = leafLifetime(info);
    t.ok(Math.abs(life.lifetimeMs - validityMs) < 2000, `${validityMs} ms certificate: lifetime ${life.lifetimeMs} ms`);
    t.ok(info.notBefore.getTime() < life.issuedAt.getTime(), 'notBefore is backdated before the moment of signing');
  }
  // A leaf cut short by its CA: the lifetime is what is left of the CA.
  const clamped = leafLifetime(certificateInfo(signCsr(ca, csr, { profile: 'node', validityMs: 365 * DAY })));
  t.ok(clamped.lifetimeMs <= 10 * DAY && clamped.lifetimeMs > 9 * DAY, 'clamped to the CA');
});

t.test('renewal at 2/3 of the lifetime, with at most 1/20 jitter', async (t) => {
  const issuedAt = new Date('2030-01-01T00:00:00.000Z');
  const life = (ms: number) => ({ issuedAt, notAfter: new Date(issuedAt.getTime() + ms), lifetimeMs: ms });
  const base = issuedAt.getTime();
  t.equal(renewalTime(life(3 * MIN), 0), base + 2 * MIN, '3m: at 2m without jitter');
  t.equal(renewalTime(life(3 * MIN), 1), base + 2 * MIN + 9000, '3m: at most 9 s later');
  t.equal(renewalTime(life(365 * DAY), 0.5), base + (365 * DAY * (2 / 3 + 1 / 40)), '365d: half the jitter');
  t.equal(renewalTime(life(3 * MIN), -4), base + 2 * MIN, 'jitter below 0 counts as 0');
  t.equal(renewalTime(life(3 * MIN), 7), base + 2 * MIN + 9000, 'jitter above 1 counts as 1');
  for (const j of [0, 0.3, 0.99]) {
    const at = renewalTime(life(2 * MIN), j);
    t.ok(base + 2 * MIN - at > 2 * MIN * 0.28, `2m certificate, jitter ${j}: more than a quarter of the lifetime is left at renewal`);
  }
});

// The trials' skew kind (docs/reliability.md): one host's clock off by minutes, certValidity 2m.
t.test('clocks that disagree: renewal still comes before expiry, by the clock every other etcd checks with', async (t) => {
  const L = 2 * MIN;
  const real = Date.parse('2030-01-01T00:00:00.000Z'); // signing, in real time
  for (const lagS of [40, 98, 290]) {
    // This node's clock lags: it received the certificate at real − lag by its own clock.
    const lag = lagS * 1000;
    const life = { issuedAt: new Date(real), notAfter: new Date(real + L), lifetimeMs: L, receivedAt: new Date(real - lag) };
    const renewLocal = renewalTime(life, 1);
    t.ok(renewLocal + lag < real + L - L / 4, `node ${lagS} s behind: renews (real time) ${(real + L - (renewLocal + lag)) / 1000} s before expiry`);
    t.equal(renewalTime({ ...life, receivedAt: undefined }, 1) + lag > real + L, true, `without the receipt time it would renew after expiry (the defect seed 8001 showed)`);
    t.equal(clockOffsetMs(life), -lag, 'the offset against the CA holder is the lag');
  }
  for (const lagS of [40, 98]) {
    // The CA holder's clock lags: its certificate says it was signed lagS ago and ends L after that.
    const lag = lagS * 1000;
    const life = { issuedAt: new Date(real - lag), notAfter: new Date(real - lag + L), lifetimeMs: L, receivedAt: new Date(real) };
    const renew = renewalTime(life, 0);
    t.ok(renew < real - lag + L, `CA holder ${lagS} s behind: renews ${(real - lag + L - renew) / 1000} s before its shortened certificate expires`);
    t.ok(renew >= real + L / 6, 'but not sooner than a sixth of the lifetime after receiving it (no renewal storm)');
  }
  for (const aheadS of [60, 200]) {
    // This node's clock runs ahead: it renews early, never in a storm.
    const ahead = aheadS * 1000;
    const life = { issuedAt: new Date(real), notAfter: new Date(real + L), lifetimeMs: L, receivedAt: new Date(real + ahead) };
    const renewLocal = renewalTime(life, 0);
    t.ok(renewLocal - ahead < real + L, `node ${aheadS} s ahead: renews before expiry`);
    t.ok(renewLocal >= real + ahead + L / 6, 'at least a sixth of the lifetime after receipt, by its own clock');
  }
  const agreed = { issuedAt: new Date(real), notAfter: new Date(real + L), lifetimeMs: L, receivedAt: new Date(real + 50) };
  t.equal(renewalTime(agreed, 0), real + (2 * L) / 3, 'clocks that agree (50 ms transfer): the plan is unchanged');
});

t.test('retries are spaced by the lifetime, between 5 s and 60 s', async (t) => {
  t.equal(retryDelayMs(2 * MIN), 5000);
  t.equal(retryDelayMs(3 * MIN), 6000);
  t.equal(retryDelayMs(12 * 3_600_000), 60_000);
  t.equal(retryDelayMs(0), 5000);
});

t.test('expiry warning: only within pki.expiryWarning, naming the file and the last renewal error', async (t) => {
  const now = Date.parse('2030-01-01T00:00:00.000Z');
  const certs = [
    { file: '/pki/ca.crt', notAfter: new Date(now + 3000 * DAY) },
    { file: '/pki/server.crt', notAfter: new Date(now + 6 * DAY) },
    { file: '/pki/etcdctl.crt', notAfter: new Date(now + 6 * DAY + 1000) },
  ];
  t.equal(expiryWarning(certs, 5 * DAY, now, null), null, 'outside the window: no warning');
  t.equal(expiryWarning(certs, 0, now, 'boom'), null, '0 turns the warning off');
  const w = expiryWarning(certs, 7 * DAY, now, 'peer n1 refused: no (EA_PEER_FORBIDDEN)') ?? '';
  t.match(w, /^certificate \/pki\/server\.crt expires at 2030-01-07T00:00:00\.000Z \(in 6d\), within pki\.expiryWarning \(7d\)/);
  t.match(w, /last renewal attempt failed: peer n1 refused/);
  t.match(expiryWarning(certs, 7 * DAY, now, null) ?? '', /it has not been renewed yet/);
  t.match(expiryWarning(certs, 7 * DAY, now + 7 * DAY, null) ?? '', /^certificate \/pki\/server\.crt expired at/);
  t.equal(expiryWarning([], 7 * DAY, now, null), null);
});
