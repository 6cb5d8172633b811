import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleMaintScript as assemble, writeMaintStubs } from '../helpers/packages.js';
import { REPO, tempDir } from '../helpers/fixtures.js';

/**
 * The install logic the .deb and the .rpm share (packaging/lib/maint.sh),
 * run as the real maintainer scripts and scriptlets — assembled from their
 * sources exactly as build.sh assembles them — against a scratch root, with
 * systemctl, useradd, groupadd and getent stubbed through PATH. The stubs log
 * every call, so each test can say which systemctl actions happened.
 */

const LIB = readFileSync(join(REPO, 'packaging', 'lib', 'maint.sh'), 'utf8');

const DEB = ['deb/postinst', 'deb/prerm', 'deb/postrm'];
const RPM = ['rpm/scriptlets/pre', 'rpm/scriptlets/post', 'rpm/scriptlets/preun', 'rpm/scriptlets/postun'];


interface Scratch {
  root: string;
  dir: string;
  log: string;
  run(script: string, args: string[], options?: { hostMode?: boolean; env?: NodeJS.ProcessEnv }): { code: number | null; stderr: string; calls: string[] };
  calls(): string[];
  clear(): Promise<void>;
}

async function scratch(t: Test, options: { systemd?: boolean } = {}): Promise<Scratch> {
  const dir = tempDir(t, 'ea-maint-');
  const root = join(dir, 'root');
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(bin, { recursive: true });
  if (options.systemd !== false) await mkdir(join(root, 'run', 'systemd', 'system'), { recursive: true });
  await writeMaintStubs(bin);
  await writeFile(log, '');
  const s: Scratch = {
    root,
    dir,
    log,
    run(script, args, runOptions = {}) {
      const path = join(dir, `${script.replace(/\//g, '_')}.sh`);
      writeFileSync(path, assemble(script), { mode: 0o755 });
      const before = s.calls().length;
      const r = spawnSync('bash', [path, ...args], {
        encoding: 'utf8',
        env: {
          PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin`,
          STUB_LOG: log,
          STUB_ROOT: root,
          // hostMode: EA_ROOT unset, as on a real host (paths then point at / — only for tests that write nothing).
          ...(runOptions.hostMode === true ? {} : { EA_ROOT: root }),
          ...runOptions.env,
        },
      });
      return { code: r.status, stderr: r.stderr, calls: s.calls().slice(before) };
    },
    calls() {
      return readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
    },
    async clear() {
      await writeFile(log, '');
    },
  };
  return s;
}

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

t.test('bash -n: the library, every Debian maintainer script and every RPM scriptlet parse', async (t) => {
  const dir = tempDir(t, 'ea-maint-syntax-');
  const lib = spawnSync('bash', ['-n', join(REPO, 'packaging', 'lib', 'maint.sh')], { encoding: 'utf8' });
  t.equal(lib.status, 0, `maint.sh: ${lib.stderr}`);
  for (const script of [...DEB, ...RPM]) {
    const text = assemble(script);
    t.notOk(text.split('\n').includes('@MAINT_LIB@'), `${script}: the library is pasted in`);
    t.match(text, 'ea_post_install()', `${script}: with its functions`);
    t.match(text, /set -euo pipefail/, `${script}: strict mode`);
    const file = join(dir, script.replace(/\//g, '_'));
    await writeFile(file, text);
    const r = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    t.equal(r.status, 0, `${script}: ${r.stderr}`);
  }
  const sh = spawnSync('bash', ['-n', join(REPO, 'packaging', 'etcd-agent.sh')], { encoding: 'utf8' });
  t.equal(sh.status, 0, 'the /usr/bin/etcd-agent wrapper parses');
});

t.test('deb: first install creates user, group and directories, enables the unit, starts nothing', async (t) => {
  const s = await scratch(t);
  const r = s.run('deb/postinst', ['configure', '']);
  t.equal(r.code, 0, r.stderr);
  t.same(
    r.calls.filter((c) => !c.startsWith('getent')),
    [`groupadd --root ${s.root} --system etcd`, `useradd --root ${s.root} --system --gid etcd --home-dir /var/lib/etcd --no-create-home --shell /usr/sbin/nologin --comment etcd distributed key-value store etcd`, 'systemctl daemon-reload', `systemctl --root=${s.root} enable etcd-agent.service`],
  );
  t.notOk(r.calls.some((c) => / (start|restart|try-restart|stop) /.test(`${c} `)), 'nothing is started: there is no config yet');
  t.match(await readFile(join(s.root, 'etc', 'passwd'), 'utf8'), /^etcd:/m);
  t.equal(await mode(join(s.root, 'var', 'lib', 'etcd-agent')), 0o700);
  t.equal(await mode(join(s.root, 'etc', 'etcd-agent')), 0o755);
  t.equal(await mode(join(s.root, 'etc', 'etcd', 'pki')), 0o755);
  t.match(r.stderr, 'installed and enabled, not started');
  t.match(r.stderr, 'etcd-agent init --cluster NAME');
});

t.test('deb: upgrade keeps the user, tightens the state dir, restarts the agent only if running, does not re-enable', async (t) => {
  const s = await scratch(t);
  t.equal(s.run('deb/postinst', ['configure', '']).code, 0);
  await chmod(join(s.root, 'var', 'lib', 'etcd-agent'), 0o755);
  await mkdir(join(s.root, 'etc', 'etcd'), { recursive: true });
  await chmod(join(s.root, 'etc', 'etcd'), 0o750);
  const r = s.run('deb/postinst', ['configure', '0.1.0']);
  t.equal(r.code, 0, r.stderr);
  t.same(r.calls.filter((c) => c.startsWith('systemctl')), ['systemctl daemon-reload', 'systemctl try-restart etcd-agent.service']);
  t.equal((await readFile(join(s.root, 'etc', 'passwd'), 'utf8')).match(/^etcd:/gm)?.length, 1, 'one etcd user');
  t.equal(await mode(join(s.root, 'var', 'lib', 'etcd-agent')), 0o700, 'the state dir is 0700 again');
  t.equal(await mode(join(s.root, 'etc', 'etcd')), 0o750, "an existing /etc/etcd keeps its owner's mode");

  const up = s.run('deb/prerm', ['upgrade', '0.1.1']);
  t.equal(up.code, 0);
  t.same(up.calls, [], 'prerm upgrade leaves the agent running until the new postinst restarts it');
  t.same(s.run('deb/postrm', ['upgrade', '0.1.1']).calls, []);
});

t.test('deb: remove stops and disables only the agent; a reinstall enables it again', async (t) => {
  const s = await scratch(t);
  t.equal(s.run('deb/postinst', ['configure', '']).code, 0);
  const pre = s.run('deb/prerm', ['remove']);
  t.equal(pre.code, 0, pre.stderr);
  t.same(pre.calls, ['systemctl stop etcd-agent.service', `systemctl --root=${s.root} disable etcd-agent.service`]);
  t.notOk(pre.calls.some((c) => /etcd\.service/.test(c)), 'etcd itself is never touched');
  const post = s.run('deb/postrm', ['remove']);
  t.same(post.calls, ['systemctl daemon-reload']);
  t.ok(existsSync(join(s.root, 'var', 'lib', 'etcd-agent', '.package-removed')), 'removal is remembered in the state dir');

  // `apt-get install` after `apt-get remove`: dpkg passes the old version, like an upgrade.
  const again = s.run('deb/postinst', ['configure', '0.1.0']);
  t.equal(again.code, 0);
  t.ok(again.calls.includes(`systemctl --root=${s.root} enable etcd-agent.service`), 're-enabled');
  t.notOk(again.calls.includes('systemctl try-restart etcd-agent.service'));
  t.notOk(existsSync(join(s.root, 'var', 'lib', 'etcd-agent', '.package-removed')));
});

t.test('deb: purge removes /etc/etcd-agent and /var/lib/etcd-agent and nothing of etcd', async (t) => {
  const s = await scratch(t);
  t.equal(s.run('deb/postinst', ['configure', '']).code, 0);
  const files = {
    'etc/etcd-agent/config.yaml': 'cluster: {}\n',
    'etc/etcd-agent/token': 'secret\n',
    'var/lib/etcd-agent/node.json': '{}\n',
    'var/lib/etcd-agent/ca.key': 'key\n',
    'var/lib/etcd/prod/member/snap/db': 'etcd data\n',
    'var/lib/etcd/default/member/snap/db': "the distribution's etcd\n",
    'etc/etcd/etcd.conf': 'ETCD_NAME=n1\n',
    'etc/etcd/pki/server.key': 'key\n',
  };
  for (const [p, c] of Object.entries(files)) {
    await mkdir(join(s.root, p, '..'), { recursive: true });
    await writeFile(join(s.root, p), c);
  }
  t.equal(s.run('deb/prerm', ['remove']).code, 0);
  t.equal(s.run('deb/postrm', ['remove']).code, 0);
  t.ok(existsSync(join(s.root, 'etc/etcd-agent/config.yaml')), 'remove keeps the config');
  t.ok(existsSync(join(s.root, 'var/lib/etcd-agent/ca.key')), 'remove keeps the state');
  const purge = s.run('deb/postrm', ['purge']);
  t.equal(purge.code, 0, purge.stderr);
  t.notOk(existsSync(join(s.root, 'etc/etcd-agent')), '/etc/etcd-agent is gone');
  t.notOk(existsSync(join(s.root, 'var/lib/etcd-agent')), '/var/lib/etcd-agent is gone');
  for (const p of ['var/lib/etcd/prod/member/snap/db', 'var/lib/etcd/default/member/snap/db', 'etc/etcd/etcd.conf', 'etc/etcd/pki/server.key']) {
    t.ok(existsSync(join(s.root, p)), `${p} stays`);
  }
  t.equal(s.run('deb/postrm', ['purge']).code, 0, 'purging twice is fine');
});

t.test('purge keeps a state dir that holds etcd data (etcd.dataDir pointed inside it), with a warning', async (t) => {
  const s = await scratch(t);
  await mkdir(join(s.root, 'var/lib/etcd-agent/etcd-data/member/snap'), { recursive: true });
  await mkdir(join(s.root, 'etc/etcd-agent'), { recursive: true });
  const r = s.run('deb/postrm', ['purge']);
  t.equal(r.code, 0);
  t.ok(existsSync(join(s.root, 'var/lib/etcd-agent/etcd-data/member/snap')), 'etcd data survives');
  t.match(r.stderr, 'not removing /var/lib/etcd-agent: it holds etcd data');
  t.notOk(existsSync(join(s.root, 'etc/etcd-agent')));
});

t.test('without a running systemd (chroot, image build) units are enabled but nothing is started, stopped or reloaded', async (t) => {
  const s = await scratch(t, { systemd: false });
  const install = s.run('deb/postinst', ['configure', '']);
  t.equal(install.code, 0, install.stderr);
  t.same(install.calls.filter((c) => c.startsWith('systemctl')), [`systemctl --root=${s.root} enable etcd-agent.service`]);
  t.same(s.run('deb/postinst', ['configure', '0.1.0']).calls.filter((c) => c.startsWith('systemctl')), []);
  t.same(s.run('deb/prerm', ['remove']).calls, [`systemctl --root=${s.root} disable etcd-agent.service`]);
});

t.test('a failing systemctl warns but does not fail the package operation', async (t) => {
  const s = await scratch(t);
  const r = s.run('deb/postinst', ['configure', ''], { env: { STUB_SYSTEMCTL_EXIT: '1' } });
  t.equal(r.code, 0);
  t.match(r.stderr, 'warning: systemctl daemon-reload failed');
  t.match(r.stderr, 'warning: could not enable etcd-agent.service');
  t.equal(s.run('deb/prerm', ['remove'], { env: { STUB_SYSTEMCTL_EXIT: '1' } }).code, 0, 'removal is never blocked');
});

t.test('on a real host (no EA_ROOT) the user is looked up with getent, not by parsing /etc/passwd', async (t) => {
  const s = await scratch(t);
  await writeFile(join(s.root, 'etc', 'passwd'), 'etcd:x:998:998::/var/lib/etcd:/usr/sbin/nologin\n');
  await writeFile(join(s.root, 'etc', 'group'), 'etcd:x:998:\n');
  // Only the user function: the rest would touch the real /var/lib.
  const dir = s.dir;
  const file = join(dir, 'user.sh');
  await writeFile(file, `set -euo pipefail\n${LIB}\nea_ensure_user\n`);
  const r = spawnSync('bash', [file], { encoding: 'utf8', env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, STUB_LOG: s.log, STUB_ROOT: s.root } });
  t.equal(r.status, 0, r.stderr);
  t.same(s.calls(), ['getent group etcd', 'getent passwd etcd'], 'both exist: nothing is added');
});

t.test('rpm: install, upgrade and erase scriptlets follow the same policy', async (t) => {
  const s = await scratch(t);
  t.equal(s.run('rpm/scriptlets/pre', ['1']).code, 0);
  t.match(await readFile(join(s.root, 'etc', 'group'), 'utf8'), /^etcd:/m, '%pre creates the group before files land');
  const post = s.run('rpm/scriptlets/post', ['1']);
  t.equal(post.code, 0, post.stderr);
  t.same(post.calls.filter((c) => c.startsWith('systemctl')), ['systemctl daemon-reload', `systemctl --root=${s.root} enable etcd-agent.service`]);
  t.equal(await mode(join(s.root, 'var', 'lib', 'etcd-agent')), 0o700);

  // rpm -U: new %pre 2, new %post 2, old %preun 1, old %postun 1.
  await s.clear();
  t.equal(s.run('rpm/scriptlets/pre', ['2']).code, 0);
  t.same(s.run('rpm/scriptlets/post', ['2']).calls.filter((c) => c.startsWith('systemctl')), ['systemctl daemon-reload'], 'no re-enable on upgrade');
  t.same(s.run('rpm/scriptlets/preun', ['1']).calls, [], 'the old package does not stop the agent on upgrade');
  t.same(s.run('rpm/scriptlets/postun', ['1']).calls, ['systemctl daemon-reload', 'systemctl try-restart etcd-agent.service']);

  // rpm -e: %preun 0, %postun 0.
  t.same(s.run('rpm/scriptlets/preun', ['0']).calls, ['systemctl stop etcd-agent.service', `systemctl --root=${s.root} disable etcd-agent.service`]);
  t.same(s.run('rpm/scriptlets/postun', ['0']).calls, ['systemctl daemon-reload']);
  t.ok(existsSync(join(s.root, 'var', 'lib', 'etcd-agent')), 'RPM has no purge: the state stays after erase');
});
