/**
 * What the agent finds on disk after a kill -9 between two writes of a
 * multi-file update, and what it does with it (issue 9.3): an unfinished CA is
 * set aside and made again; a lost CA key or a mismatched pair is refused and
 * left untouched; partly written node pki is reused, never regenerated. The
 * failpoints themselves kill the process only when armed.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { Writable } from 'node:stream';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CaHolder } from '../../src/agent/bootstrap/ca-holder.js';
import { prepareEnrollment } from '../../src/agent/bootstrap/enrollment.js';
import { StateStore } from '../../src/agent/bootstrap/state-store.js';
import { pkiPaths } from '../../src/agent/files/pki-files.js';
import { clientSubjectNames, createCa, createCsr, generateKeyPair, keyIdOfPublicKey, keyMatchesCertificate, nodeSubjectNames, parseCsr, verifyIssuedBy } from '../../src/pki/index.js';
import { failpoint } from '../../src/util/failpoint.js';
import { createLogger, silentLogger } from '../../src/util/log.js';
import { viewMember } from '../helpers/fixtures.js';

const member = viewMember;
const view = [member(1), member(2)];
const options = { clusterName: 'unit', certValidityMs: 30 * 86_400_000, caValidityDays: 365 };

async function tempStore(t: Test): Promise<StateStore> {
  const dir = await mkdtemp(join(tmpdir(), 'ea-crash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new StateStore(dir);
  await store.init();
  return store;
}

/** Every file in the dir with its content, to show nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = await readFile(join(dir, f), 'utf8');
  return out;
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

async function signSomething(holder: CaHolder): Promise<string> {
  const key = await generateKeyPair();
  const m = member(2);
  const answer = holder.sign({ nodeId: m.nodeId, name: m.name, addresses: [m.address], keyId: keyIdOfPublicKey(key.publicKeyPem) }, {
    nodeCsr: createCsr(key, nodeSubjectNames('node2', ['10.9.0.2'])),
    clientCsr: createCsr(key, clientSubjectNames('node2')),
  });
  return answer.certificate;
}

t.test('ca.key without ca.crt (killed at ca-key-written): the key is set aside and the CA made again', async (t) => {
  const store = await tempStore(t);
  const unfinished = await createCa('unit', 365);
  await writeFile(store.path('ca.key'), unfinished.keyPem, { mode: 0o600 });

  const { logger, lines } = capturingLogger();
  const holder = await CaHolder.open(store, view, options, logger);

  const keyPem = await readFile(store.path('ca.key'), 'utf8');
  const certPem = await readFile(store.path('ca.crt'), 'utf8');
  t.not(keyPem, unfinished.keyPem, 'a new CA key');
  t.ok(keyMatchesCertificate(keyPem, certPem), 'ca.key and ca.crt are one pair');
  t.equal(holder.caCertPem, certPem, 'the holder uses the CA on disk');
  t.ok(verifyIssuedBy(await signSomething(holder), certPem), 'and signs with it');

  const aside = (await readdir(store.dir)).filter((f) => f.startsWith('ca.key.unfinished-'));
  t.equal(aside.length, 1, 'the unfinished key is kept aside, not deleted');
  t.equal(await readFile(store.path(aside[0]!), 'utf8'), unfinished.keyPem);
  t.equal((await stat(store.path(aside[0]!))).mode & 0o777, 0o600, 'still 0600');

  const warning = lines().find((l) => l.level === 40 && l.component === 'ca');
  t.ok(warning, 'the recovery is logged as a warning');
  t.match(String(warning?.msg), /CA key without its certificate.*made again/);
  t.equal(warning?.setAside, store.path(aside[0]!), 'naming where the key went');

  const again = await CaHolder.open(store, view, options, silentLogger());
  t.equal(again.caCertPem, certPem, 'the next open keeps the remade CA');
  t.equal((await readdir(store.dir)).filter((f) => f.startsWith('ca.key.unfinished-')).length, 1, 'and sets nothing else aside');
});

t.test('CA written, holder.json not (killed at ca-written-before-holder-record): the same CA is used', async (t) => {
  const store = await tempStore(t);
  const ca = await createCa('unit', 365);
  await store.saveCaMaterial(ca);
  const holder = await CaHolder.open(store, view, options, silentLogger());
  t.equal(holder.caCertPem, ca.certPem);
  t.ok(await store.holder(), 'holder record written now');
});

t.test('ca.crt without ca.key is a lost key: refused, and nothing on disk changes', async (t) => {
  const store = await tempStore(t);
  const ca = await createCa('unit', 365);
  await writeFile(store.path('ca.crt'), ca.certPem, { mode: 0o644 });
  const before = await snapshot(store.dir);
  await t.rejects(CaHolder.open(store, view, options, silentLogger()), {
    code: 'EA_CA_KEY_MISSING',
    message: /ca\.crt exists but its key .*ca\.key does not.*restore/,
  });
  t.same(await snapshot(store.dir), before, 'no new CA, no holder record');
});

t.test('a ca.key that is not the key of ca.crt is refused, and nothing on disk changes', async (t) => {
  const store = await tempStore(t);
  const [a, b] = await Promise.all([createCa('unit', 365), createCa('unit', 365)]);
  await writeFile(store.path('ca.crt'), a.certPem, { mode: 0o644 });
  await writeFile(store.path('ca.key'), b.keyPem, { mode: 0o600 });
  const before = await snapshot(store.dir);
  await t.rejects(CaHolder.open(store, view, options, silentLogger()), { code: 'EA_STATE_CORRUPT', message: /ca\.key.*not the key of ca\.crt/ });
  t.same(await snapshot(store.dir), before);
});

t.test('partly written node pki without an enrollment: the keys on disk are reused for the new CSRs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ea-crash-pki-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const paths = pkiPaths(dir);
  const publicOf = (pem: string): string => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();

  // Killed at pki-server-key-written: only server.key exists.
  const first = await prepareEnrollment(paths, 'node2', ['10.9.0.2']);
  await rm(paths.clientKey);
  const serverKey = await readFile(paths.serverKey, 'utf8');
  const second = await prepareEnrollment(paths, 'node2', ['10.9.0.2']);
  t.equal(second.serverKeyPem, serverKey, 'server key reused');
  t.equal(second.serverKeyPem, first.serverKeyPem);
  t.equal(parseCsr(second.request.nodeCsr).publicKeyPem, publicOf(serverKey), 'the node CSR is for it');
  t.equal((await stat(paths.clientKey)).mode & 0o777, 0o600, 'the missing client key is made, 0600');

  // Killed at pki-ca-cert-written / pki-server-cert-written: keys and some certificates exist.
  await writeFile(paths.caCert, 'left over from the interrupted write\n');
  const third = await prepareEnrollment(paths, 'node2', ['10.9.0.2']);
  t.equal(third.serverKeyPem, second.serverKeyPem, 'server key reused again');
  t.equal(third.clientKeyPem, second.clientKeyPem, 'client key reused');
  t.equal(parseCsr(third.request.clientCsr).publicKeyPem, publicOf(second.clientKeyPem), 'the client CSR is for it');
});

t.test('failpoints: a no-op unless armed; armed, one stderr line and SIGKILL', async (t) => {
  failpoint('ca-key-written');
  t.pass('an unarmed point returns');

  const module = resolve(import.meta.dirname, '..', '..', 'src', 'util', 'failpoint.ts');
  const script = `import { failpoint } from ${JSON.stringify(module)}; failpoint('pki-keys-written'); failpoint('ca-key-written'); console.log('survived');`;
  const run = (armed: string) =>
    spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, ETCD_AGENT_FAILPOINTS: armed },
    });
  const killed = run('some-other-point, ca-key-written');
  t.equal(killed.signal, 'SIGKILL', `killed by SIGKILL (status ${killed.status}, stderr ${killed.stderr})`);
  t.match(killed.stderr, /failpoint ca-key-written reached/);
  t.notMatch(killed.stdout, /survived/);
  const unarmed = run('');
  t.equal(unarmed.status, 0, unarmed.stderr);
  t.match(unarmed.stdout, /survived/);
});
