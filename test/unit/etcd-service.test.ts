import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ProcessServiceManager,
  buildServiceEnv,
  formatDelay,
  nextBackoff,
} from '../../src/systemd/process-backend.js';
import type { ServiceSpec } from '../../src/systemd/service-manager.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/fixtures.js';

const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name: 'etcd',
  binary: '/nonexistent/bin/etcd',
  envFile: '/nonexistent/etc/etcd.conf',
  dataDir: '/nonexistent/var/lib/etcd/x',
  workDir: '/nonexistent/var/lib/etcd-agent',
  ...over,
});

t.test('backoff doubles from initial to max', async (t) => {
  const b = { initialMs: 1000, maxMs: 30_000 };
  const seq: number[] = [];
  let d = b.initialMs;
  for (let i = 0; i < 8; i++) {
    seq.push(d);
    d = nextBackoff(d, b);
  }
  t.same(seq, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  t.equal(formatDelay(4000), '4 s');
  t.equal(formatDelay(1500), '1.5 s');
  t.equal(formatDelay(250), '250 ms');
});

t.test('service env: PATH/HOME plus the file ETCD_* only, nothing inherited', async (t) => {
  const env = buildServiceEnv(
    { ETCD_NAME: 'n1', ETCD_DATA_DIR: '/d', OTHER: 'no' },
    { PATH: '/bin', HOME: '/root', ETCD_NAME: 'inherited', ETCD_DEBUG: 'true', SECRET: 'x' },
  );
  t.same(env, { PATH: '/bin', HOME: '/root', ETCD_NAME: 'n1', ETCD_DATA_DIR: '/d' });
});

t.test('missing binary → EA_SVC_BINARY_MISSING naming the path and the package', async (t) => {
  const m = new ProcessServiceManager(silentLogger());
  await t.rejects(m.install(spec()), {
    code: 'EA_SVC_BINARY_MISSING',
    message: /\/nonexistent\/bin\/etcd.*apt-get install etcd-server/,
  });
  await t.rejects(m.install(spec({ binary: '/etc' })), { code: 'EA_SVC_BINARY_MISSING', message: /not a regular file/ });
  const dir = tempDir(t, 'ea-svc-');
  const plain = join(dir, 'etcd');
  await writeFile(plain, 'not a program', { mode: 0o644 });
  await t.rejects(m.install(spec({ binary: plain })), { code: 'EA_SVC_BINARY_MISSING', message: /not executable/ });
});

t.test('spec validation and order of calls', async (t) => {
  const m = new ProcessServiceManager(silentLogger());
  await t.rejects(m.install(spec({ workDir: 'relative' })), { code: 'EA_SVC_SPEC_INVALID', message: /workDir/ });
  await t.rejects(m.start(), { code: 'EA_SVC_NOT_INSTALLED' });
  t.equal(m.kind, 'process');
  const s = m.status();
  t.equal(s.state, 'inactive');
  t.equal(s.restarts, 0);
  t.same(s.recentLog, []);
  t.equal((await m.refreshStatus()).state, 'inactive');
  await m.stop();
  await m.close();
});

t.test('install reports changes', async (t) => {
  const m = new ProcessServiceManager(silentLogger());
  const s = spec({ binary: process.execPath });
  t.same(await m.install(s), { changed: true });
  t.same(await m.install({ ...s }), { changed: false });
  t.same(await m.install({ ...s, dataDir: '/other' }), { changed: true });
});

t.test('unreadable env file fails start with EA_SVC_ENVFILE_UNREADABLE', async (t) => {
  const m = new ProcessServiceManager(silentLogger());
  await m.install(spec({ binary: process.execPath }));
  await t.rejects(m.start(), { code: 'EA_SVC_ENVFILE_UNREADABLE', message: /\/nonexistent\/etc\/etcd\.conf/ });
  t.equal(m.status().state, 'failed');
  t.match(m.status().detail, /could not start/);
});
