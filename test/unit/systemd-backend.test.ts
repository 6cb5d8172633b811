/**
 * The systemd backend against a scripted systemctl (no systemd needed): what
 * it writes, which systemctl calls it makes and when, how it reads state and
 * reports failure. The real thing runs in test/e2e/systemd-*.test.ts.
 */
import t from 'tap';
import { chmodSync, statSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { decideServiceManager } from '../../src/agent/service-manager-choice.js';
import { ensureServiceAccount, prepareServicePaths } from '../../src/systemd/service-account.js';
import type { ServiceSpec } from '../../src/systemd/service-manager.js';
import { Systemctl, parseShow, type CommandResult, type CommandRunner } from '../../src/systemd/systemctl.js';
import { SystemdServiceManager, describeExit, foreignEnvironment, statusFromShow } from '../../src/systemd/systemd-backend.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/fixtures.js';

const ok = (stdout = ''): CommandResult => ({ code: 0, signal: null, stdout, stderr: '', timedOut: false });
const fail = (code: number, stderr: string): CommandResult => ({ code, signal: null, stdout: '', stderr, timedOut: false });

/** A systemd that answers `systemctl` like PID 1 would, from a property table. */
class FakeSystemd {
  readonly calls: string[] = [];
  props: Record<string, string[]> = {};
  journal = ['etcd: listen tcp 10.0.0.1:2380: bind: address already in use', 'etcd.service: Main process exited, code=exited, status=1/FAILURE'];
  /** systemctl subcommand → forced answer. */
  readonly answers = new Map<string, CommandResult>();
  /** Where daemon-reload makes systemd load etcd.service from. */
  reloadLoads = '';

  constructor(public unitFile: string) {
    this.set({
      LoadState: 'loaded',
      ActiveState: 'active',
      SubState: 'running',
      Result: 'success',
      MainPID: '4242',
      NRestarts: '0',
      ExecMainCode: '0',
      ExecMainStatus: '0',
      StateChangeTimestamp: '@1700000000',
      ExecMainExitTimestamp: '',
      FragmentPath: '/lib/systemd/system/etcd.service',
      DropInPaths: '',
      EnvironmentFiles: '/etc/default/etcd (ignore_errors=yes)',
      Environment: 'ETCD_DATA_DIR=/var/lib/etcd/default ETCD_NAME=host1',
      NeedDaemonReload: 'no',
      RestartUSec: '5s',
    });
    this.reloadLoads = unitFile;
  }

  set(values: Record<string, string | string[]>): void {
    for (const [k, v] of Object.entries(values)) this.props[k] = Array.isArray(v) ? v : [v];
  }

  /** What our unit looks like once loaded. */
  loadOurs(envFile: string): void {
    this.set({ FragmentPath: this.unitFile, EnvironmentFiles: `${envFile} (ignore_errors=no)`, Environment: '' });
  }

  runner: CommandRunner = async (file, args) => {
    this.calls.push([file, ...args].join(' '));
    const sub = args[0] ?? '';
    const forced = this.answers.get(sub);
    if (forced) return forced;
    if (file === 'journalctl') return ok(`${this.journal.join('\n')}\n`);
    switch (sub) {
      case 'show': {
        const wanted = (args[args.indexOf('-p') + 1] ?? '').split(',');
        const out: string[] = [];
        for (const key of wanted) for (const v of this.props[key] ?? ['']) out.push(`${key}=${v}`);
        return ok(`${out.join('\n')}\n`);
      }
      case 'daemon-reload':
        this.set({ FragmentPath: this.reloadLoads, NeedDaemonReload: 'no' });
        if (this.reloadLoads === this.unitFile) this.set({ EnvironmentFiles: this.props.EnvironmentFiles![0]!.startsWith('/etc/default') ? `${envFileOf(this.unitFile)} (ignore_errors=no)` : this.props.EnvironmentFiles!, Environment: '' });
        return ok();
      case 'start':
      case 'restart':
        this.set({ ActiveState: 'activating', SubState: 'start', Result: 'success' });
        return ok();
      case 'stop':
        this.set({ ActiveState: 'inactive', SubState: 'dead', MainPID: '0' });
        return ok();
      case 'reset-failed':
        this.set({ ActiveState: 'inactive', SubState: 'dead', Result: 'success', NRestarts: '0' });
        return ok();
      case 'enable':
        return ok();
      default:
        return fail(1, `Unknown command verb ${sub}.`);
    }
  };
}

/** The fake's environment file lives beside the unit in the test root. */
const envFileOf = (unitFile: string): string => join(unitFile, '..', '..', '..', 'etcd', 'etcd.conf');

interface Fixture {
  dir: string;
  spec: ServiceSpec;
  unitFile: string;
  fake: FakeSystemd;
  manager: SystemdServiceManager;
}

function fixture(t: { teardown(fn: () => unknown): void }, pollMs = 0): Fixture {
  const dir = tempDir(t, 'ea-sd-');
  const unitFile = join(dir, 'etc', 'systemd', 'system', 'etcd.service');
  const envFile = envFileOf(unitFile);
  const keyFile = join(dir, 'etc', 'etcd', 'pki', 'server.key');
  mkdirSync(join(dir, 'etc', 'etcd', 'pki'), { recursive: true });
  writeFileSync(envFile, `ETCD_NAME=n1\nETCD_DATA_DIR=${join(dir, 'var', 'lib', 'etcd', 'c1')}\nETCD_KEY_FILE=${keyFile}\nETCD_PEER_KEY_FILE=${keyFile}\n`);
  writeFileSync(keyFile, 'KEY', { mode: 0o640 });
  chmodSync(keyFile, 0o640);
  const fake = new FakeSystemd(unitFile);
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const manager = new SystemdServiceManager(silentLogger(), {
    unitFile,
    systemctl: new Systemctl({ runner: fake.runner }),
    pollMs,
    ensureAccount: async (user, group) => ({ user, group, uid, gid }),
  });
  t.teardown(() => manager.close());
  const spec: ServiceSpec = {
    name: 'etcd',
    binary: process.execPath,
    envFile,
    dataDir: join(dir, 'var', 'lib', 'etcd', 'c1'),
    workDir: join(dir, 'var', 'lib', 'etcd-agent'),
    user: 'etcd',
  };
  return { dir, spec, unitFile, fake, manager };
}

t.test('install over a running packaged unit: writes, reloads once, reports changed; then nothing', async (t) => {
  const { spec, unitFile, fake, manager } = fixture(t);
  const first = await manager.install(spec);
  t.same(first, { changed: true });
  const unit = readFileSync(unitFile, 'utf8');
  t.match(unit, /^Type=notify$/m);
  t.match(unit, new RegExp(`^EnvironmentFile=${spec.envFile.replace(/[.]/g, '\\.')}$`, 'm'));
  t.match(unit, new RegExp(`^ReadWritePaths=${spec.dataDir}$`, 'm'));
  t.equal(statSync(unitFile).mode & 0o777, 0o644);
  t.equal(fake.calls.filter((c) => c.includes('daemon-reload')).length, 1, 'one daemon-reload');
  t.equal(manager.status().state, 'active', 'the packaged etcd still runs: the agent restarts it (unit changed)');

  const dataDir = statSync(spec.dataDir);
  t.ok(dataDir.isDirectory(), 'data dir created');
  t.equal(dataDir.mode & 0o777, 0o700, 'data dir 0700');
  t.equal(statSync(join(spec.envFile, '..', 'pki', 'server.key')).mode & 0o777, 0o600, 'key made 0600');

  fake.calls.length = 0;
  const second = await manager.install(spec);
  t.same(second, { changed: false }, 'same unit, loaded: unchanged');
  t.same(fake.calls.filter((c) => !c.includes(' show ')), [], 'no systemctl call but show');

  fake.set({ NeedDaemonReload: 'yes' });
  t.same(await manager.install(spec), { changed: true }, 'systemd has an older copy loaded (agent died before reloading)');
  t.equal(fake.calls.filter((c) => c.includes('daemon-reload')).length, 1);
});

t.test('install every tick asks systemd only at the poll\'s pace; acting on "not running" asks again', async (t) => {
  const { spec, fake, manager } = fixture(t, 60_000);
  await manager.install(spec);
  t.equal(manager.status().state, 'active');
  fake.calls.length = 0;
  for (let i = 0; i < 5; i++) t.same(await manager.install(spec), { changed: false });
  t.same(fake.calls, [], 'five unchanged installs within the poll period: no systemctl call at all');

  fake.set({ ActiveState: 'failed', SubState: 'failed', Result: 'exit-code' });
  await manager.install(spec);
  t.equal(manager.status().state, 'active', 'the snapshot is the last answer until the poll or an action asks again');
  t.equal((await manager.refreshStatus()).state, 'failed', 'refreshStatus() asks systemd');
  t.equal(manager.status().state, 'failed', 'and the snapshot follows');

  fake.calls.length = 0;
  t.same(await manager.install({ ...spec, dataDir: `${spec.dataDir}-other` }), { changed: true }, 'a changed unit is written and reloaded');
  t.ok(fake.calls.some((c) => c.includes(' show ')), 'after a write systemd is asked at once');
});

t.test('a drop-in that brings /etc/default/etcd back is refused, naming it', async (t) => {
  const { spec, fake, manager } = fixture(t);
  await manager.install(spec);
  fake.set({
    EnvironmentFiles: [`${spec.envFile} (ignore_errors=no)`, '/etc/default/etcd (ignore_errors=yes)'],
    DropInPaths: '/etc/systemd/system/etcd.service.d/local.conf',
    Environment: 'GOMAXPROCS=2 ETCD_DATA_DIR=/var/lib/etcd/default',
  });
  await t.rejects(manager.install(spec), {
    code: 'EA_SVC_FOREIGN_ENV',
    message: /EnvironmentFile=\/etc\/default\/etcd, Environment=ETCD_DATA_DIR.*\/etc\/systemd\/system\/etcd\.service\.d\/local\.conf/,
  });
  t.same(foreignEnvironment(parseShow(`EnvironmentFiles=${spec.envFile} (ignore_errors=no)\nEnvironment=GOMAXPROCS=2 "X=a b"\n`), spec.envFile), []);
});

t.test('a unit elsewhere that wins over /etc is reported', async (t) => {
  const { spec, fake, manager } = fixture(t);
  fake.reloadLoads = '/run/systemd/system/etcd.service';
  await t.rejects(manager.install(spec), { code: 'EA_SVC_UNIT_SHADOWED', message: /\/run\/systemd\/system\/etcd\.service/ });
});

t.test('start and restart never block; a failed unit is reset first; start of a running unit is a no-op', async (t) => {
  const { spec, fake, manager } = fixture(t);
  await t.rejects(manager.start(), { code: 'EA_SVC_NOT_INSTALLED' });
  await manager.install(spec);
  await manager.enable();
  t.ok(fake.calls.some((c) => c === 'systemctl enable etcd.service'));

  fake.calls.length = 0;
  await manager.start();
  t.same(fake.calls.filter((c) => !c.includes(' show ')), [], 'already active: nothing to do');

  fake.set({ ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', ExecMainCode: '1', ExecMainStatus: '1', ExecMainExitTimestamp: '@1700000100', MainPID: '0' });
  await manager.start();
  t.same(fake.calls.filter((c) => !c.includes(' show ') && !c.startsWith('journalctl')), ['systemctl reset-failed etcd.service', 'systemctl start --no-block etcd.service']);
  t.equal(manager.status().state, 'activating');

  fake.calls.length = 0;
  await manager.restart();
  t.same(fake.calls.filter((c) => !c.includes(' show ')), ['systemctl restart --no-block etcd.service']);

  fake.calls.length = 0;
  await manager.stop();
  t.same(fake.calls.filter((c) => !c.includes(' show ')), ['systemctl stop etcd.service']);
  t.equal((await manager.refreshStatus()).state, 'inactive');
});

t.test('status: a failing etcd shows systemd\'s words and the journal, read once per failure', async (t) => {
  const { spec, fake, manager } = fixture(t);
  await manager.install(spec);
  fake.set({ ActiveState: 'activating', SubState: 'auto-restart', Result: 'exit-code', ExecMainCode: '1', ExecMainStatus: '1', ExecMainExitTimestamp: '@1700000100', NRestarts: '3', MainPID: '0' });
  await manager.refreshStatus();
  const s = manager.status();
  t.equal(s.state, 'activating');
  t.equal(s.restarts, 3);
  t.match(s.detail, /exited with code 1 at 2023-11-14T22:15:00\.000Z; systemd restarts it in 5s \(restarted 3× so far\); last log line: etcd\.service: Main process exited/);
  t.same(s.recentLog, fake.journal);
  t.ok(fake.calls.some((c) => c.startsWith('journalctl -u etcd.service -n 10 --no-pager -o cat')));

  const reads = (): number => fake.calls.filter((c) => c.startsWith('journalctl')).length;
  const before = reads();
  await manager.refreshStatus();
  t.equal(reads(), before, 'same failure: journal not read again');
  fake.set({ NRestarts: '4', ExecMainExitTimestamp: '@1700000110' });
  await manager.refreshStatus();
  t.equal(reads(), before + 1, 'next failure: read again');

  fake.set({ ActiveState: 'failed', SubState: 'failed', Result: 'signal', ExecMainCode: '2', ExecMainStatus: '9' });
  await manager.refreshStatus();
  t.match(manager.status().detail, /^failed \(Result=signal\): killed by SIGKILL at /);
  t.equal(manager.status().state, 'failed');
});

t.test('the background poll notices a change nobody asked about; close() stops it', async (t) => {
  const { spec, fake } = fixture(t);
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const manager = new SystemdServiceManager(silentLogger(), {
    unitFile: fake.unitFile,
    systemctl: new Systemctl({ runner: fake.runner }),
    pollMs: 40,
    ensureAccount: async (user, group) => ({ user, group, uid, gid }),
  });
  await manager.install(spec);
  t.equal(manager.status().state, 'active');
  fake.set({ ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', ExecMainCode: '1', ExecMainStatus: '2', ExecMainExitTimestamp: '@1700000100', MainPID: '0' });
  const deadline = Date.now() + 3000;
  while (manager.status().state !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(manager.status().state, 'failed', 'seen by the poll');
  t.match(manager.status().detail, /exited with code 2/);
  t.same(manager.status().recentLog, fake.journal, 'journal read by the poll');
  await manager.close();
  const shows = fake.calls.filter((c) => c.includes(' show ')).length;
  await new Promise((r) => setTimeout(r, 200));
  t.equal(fake.calls.filter((c) => c.includes(' show ')).length, shows, 'no polling after close()');
});

t.test('systemctl errors carry systemd\'s own words and a bound', async (t) => {
  const { spec, fake, manager } = fixture(t);
  await manager.install(spec);
  fake.answers.set('start', fail(1, 'Job for etcd.service failed because the control process exited with error code.\nSee "systemctl status etcd.service" for details.\n'));
  fake.set({ ActiveState: 'inactive', SubState: 'dead' });
  await t.rejects(manager.start(), {
    code: 'EA_SVC_SYSTEMCTL',
    message: /`systemctl start --no-block etcd\.service` failed with exit code 1: Job for etcd\.service failed because the control process exited with error code\. \/ See "systemctl status etcd\.service"/,
  });

  // The real runner: a systemctl that hangs is killed at the bound; one that is missing says so.
  const dir = tempDir(t, 'ea-sctl-');
  const hang = join(dir, 'systemctl-hang');
  writeFileSync(hang, '#!/bin/sh\necho "Waiting for D-Bus" >&2\nexec sleep 30\n', { mode: 0o755 });
  const started = Date.now();
  await t.rejects(new Systemctl({ systemctlPath: hang, timeoutMs: 300 }).run(['daemon-reload']), {
    code: 'EA_SVC_SYSTEMCTL',
    message: /did not finish within 300 ms \(killed\): Waiting for D-Bus/,
  });
  t.ok(Date.now() - started < 5000, 'bounded');
  await t.rejects(new Systemctl({ systemctlPath: join(dir, 'nope') }).run(['show']), { code: 'EA_SVC_SYSTEMCTL', message: /not installed/ });
  const denied = join(dir, 'systemctl-denied');
  writeFileSync(denied, '#!/bin/sh\necho "Failed to connect to bus: Permission denied" >&2\nexit 1\n', { mode: 0o755 });
  await t.rejects(new Systemctl({ systemctlPath: denied }).run(['enable', 'etcd.service']), {
    code: 'EA_SVC_SYSTEMCTL',
    message: /`\S+systemctl-denied enable etcd\.service` failed with exit code 1: Failed to connect to bus: Permission denied/,
  });
});

t.test('pure pieces: exit words, status words, show parsing', async (t) => {
  const props = parseShow('ExecMainCode=3\nExecMainStatus=6\nExecMainExitTimestamp=@1700000000\nEnvironmentFiles=/a (ignore_errors=no)\nEnvironmentFiles=/b (ignore_errors=yes)\n');
  t.equal(describeExit(props), 'dumped core on SIGABRT at 2023-11-14T22:13:20.000Z');
  t.same(props.get('EnvironmentFiles'), ['/a (ignore_errors=no)', '/b (ignore_errors=yes)']);
  t.same(foreignEnvironment(props, '/a'), ['EnvironmentFile=/b']);
  const notFound = statusFromShow('etcd.service', parseShow('LoadState=not-found\nActiveState=inactive\n'), []);
  t.equal(notFound.detail, 'etcd.service is not loaded (LoadState=not-found)');
  const waiting = statusFromShow('etcd.service', parseShow('LoadState=loaded\nActiveState=activating\nSubState=start\nMainPID=77\nExecMainStartTimestamp=@1700000000\n'), []);
  t.equal(waiting.pid, 77);
  t.match(waiting.detail, /reports ready once its cluster has quorum/);
  const held = statusFromShow('etcd.service', parseShow('LoadState=loaded\nActiveState=inactive\nSubState=dead\nConditionResult=no\n'), []);
  t.match(held.detail, /not started because its data dir holds no etcd data/, 'a start skipped by the data-dir condition says so');
});

t.test('account: created through PID 1 when absent; data dir and keys handed over', async (t) => {
  const calls: string[] = [];
  const exists = { group: false, passwd: false };
  const runner: CommandRunner = async (file, args) => {
    calls.push([file, ...args].join(' '));
    const db = args[0] === 'group' ? 'group' : 'passwd';
    if (file === 'getent') return exists[db] ? ok(`etcd:x:${db === 'group' ? 105 : 102}:105::/var/lib/etcd:/usr/sbin/nologin\n`) : fail(2, '');
    if (file === 'systemd-run' && args.includes('/usr/sbin/groupadd')) exists.group = true;
    if (file === 'systemd-run' && args.includes('/usr/sbin/useradd')) exists.passwd = true;
    return ok();
  };
  const account = await ensureServiceAccount('etcd', 'etcd', { runner });
  t.same(account, { user: 'etcd', group: 'etcd', uid: 102, gid: 105 });
  const made = calls.filter((c) => c.startsWith('systemd-run'));
  t.equal(made.length, 2, 'groupadd, then useradd');
  t.match(made[0], /^systemd-run --wait --pipe --quiet --collect .* -- \/usr\/sbin\/groupadd --system etcd$/);
  t.match(made[1], /-- \/usr\/sbin\/useradd --system --gid etcd --home-dir \/var\/lib\/etcd --no-create-home --shell \/usr\/sbin\/nologin .* etcd$/);

  const refusing: CommandRunner = async (file) => (file === 'getent' ? fail(2, '') : fail(1, 'groupadd: cannot lock /etc/group; try again later.'));
  await t.rejects(ensureServiceAccount('etcd', 'etcd', { runner: refusing }), {
    code: 'EA_SVC_ACCOUNT',
    message: /cannot lock \/etc\/group.*create it by hand/,
  });

  const dir = tempDir(t, 'ea-acct-');
  const me = { user: 'me', group: 'me', uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const key = join(dir, 'server.key');
  writeFileSync(key, 'k', { mode: 0o644 });
  chmodSync(key, 0o644);
  const dataDir = join(dir, 'var', 'lib', 'etcd', 'c1');
  const changes = await prepareServicePaths(me, { dataDir, secretFiles: [key, join(dir, 'missing.key')] });
  t.ok(existsSync(dataDir));
  t.equal(statSync(dataDir).mode & 0o777, 0o700);
  t.equal(statSync(key).mode & 0o777, 0o600);
  t.match(changes.join('\n'), /created .*c1/);
  t.same(await prepareServicePaths(me, { dataDir, secretFiles: [key] }), [], 'nothing to do the second time');
});

t.test('which backend', async (t) => {
  const paths = { root: '/', stateDir: '', confFile: '', etcdctlEnvFile: '', pkiDir: '', unitFile: '/etc/systemd/system/etcd.service' };
  t.equal(decideServiceManager({ serviceManager: 'auto', paths }, true).kind, 'systemd');
  t.equal(decideServiceManager({ serviceManager: 'auto', paths }, false).kind, 'process');
  t.equal(decideServiceManager({ serviceManager: 'auto', paths: { ...paths, root: '/tmp/n1' } }, true).kind, 'process', '--root on a systemd host');
  t.equal(decideServiceManager({ serviceManager: 'process', paths }, true).kind, 'process');
  t.equal(decideServiceManager({ serviceManager: 'systemd', paths }, true).kind, 'systemd');
  t.throws(() => decideServiceManager({ serviceManager: 'systemd', paths }, false), { code: 'EA_SVC_SYSTEMD_UNAVAILABLE', exitCode: 2 });
});
