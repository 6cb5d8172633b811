import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderConfigTemplate } from '../../packaging/gen/config-template.js';
import { buildPackages, packagingUnsupported, writeMaintStubs } from '../helpers/packages.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * The RPM as far as a Debian machine can take it: installed into a scratch
 * root with rpm itself (no dependency resolution, no scriptlets), checked
 * there, its agent run from there; then the scriptlets extracted from the
 * package run against that root (systemctl and useradd stubbed) through an
 * install, an upgrade and an erase. What this does not show — dnf, a real
 * transaction with systemd running, SELinux — is listed in docs/packaging.md.
 */

t.setTimeout(20 * 60_000);

function sh(argv: string[], env?: NodeJS.ProcessEnv): { code: number | null; out: string; err: string } {
  const [file, ...args] = argv;
  const r = spawnSync(file ?? 'false', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: env ?? process.env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function main(): Promise<void> {
  const pkgs = await buildPackages({ log: (l) => t.comment(l) });
  const rpm = pkgs.rpm ?? '';
  const dir = tempDir(t, 'ea-rpm-root-');
  const root = join(dir, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  await writeMaintStubs(bin);
  await writeFile(log, '');

  await t.test('rpm -i --root --nodeps --noscripts: files, modes, rpm -V', async (t) => {
    t.equal(sh(['rpm', '--root', root, '--initdb']).code, 0);
    const install = sh(['rpm', '--root', root, '-i', '--nodeps', '--noscripts', rpm]);
    t.equal(install.code, 0, install.err);
    t.equal(sh(['rpm', '--root', root, '-q', 'etcd-agent']).out.trim(), `etcd-agent-${pkgs.version}-1.x86_64`);
    const mode = (p: string): number => statSync(join(root, p)).mode & 0o7777;
    t.equal(mode('usr/bin/etcd-agent'), 0o755);
    t.equal(mode('usr/lib/etcd-agent/node/bin/node'), 0o755);
    t.equal(mode('etc/etcd-agent/config.yaml'), 0o644);
    t.equal(readFileSync(join(root, 'etc/etcd-agent/config.yaml'), 'utf8'), renderConfigTemplate());
    t.ok(existsSync(join(root, 'usr/lib/systemd/system/etcd-agent.service')), 'the unit where RPM distributions keep units');
    t.notOk(existsSync(join(root, 'lib/systemd/system/etcd-agent.service')));
    t.ok(existsSync(join(root, 'usr/share/licenses/etcd-agent/LICENSE')));
    t.ok(existsSync(join(root, 'usr/share/man/man1/etcd-agent.1.gz')));
    t.notOk(existsSync(join(root, 'var/lib/etcd-agent')), 'the state dir is the scriptlets\' job');
    const verify = sh(['rpm', '--root', root, '-V', '--nodeps', 'etcd-agent']);
    t.equal(verify.code, 0, `rpm -V (files: digests, modes, owners) is clean: ${verify.out}${verify.err}`);
  });

  await t.test('the agent runs from the RPM root with its bundled node', async (t) => {
    const lib = join(root, 'usr/lib/etcd-agent');
    const clean = { PATH: '/usr/bin:/bin' };
    const v = sh([join(lib, 'node/bin/node'), join(lib, 'bin/etcd-agent.js'), '--version'], clean);
    t.equal(v.out, `etcd-agent ${pkgs.version}\n`, v.err);
    // --root: the default config path inside the scratch root ("not configured" is for the default path only).
    const check = sh([join(lib, 'node/bin/node'), join(lib, 'bin/etcd-agent.js'), 'check-config', '--root', root], clean);
    t.equal(check.code, 2);
    t.match(check.err, 'not configured');
    const run = sh([join(lib, 'node/bin/node'), join(lib, 'bin/etcd-agent.js'), 'run', '--root', root], clean);
    t.equal(run.code, 0, 'an unconfigured agent exits cleanly');
    t.match(run.err, 'not configured');
  });

  await t.test('the packaged scriptlets: install enables without starting; upgrade try-restarts; erase stops and keeps state', async (t) => {
    const scripts: Record<string, string> = {};
    for (const [tag, name] of [
      ['PREIN', 'pre'],
      ['POSTIN', 'post'],
      ['PREUN', 'preun'],
      ['POSTUN', 'postun'],
    ] as const) {
      const file = join(dir, `${name}.sh`);
      await writeFile(file, sh(['rpm', '-qp', '--qf', `%{${tag}}`, rpm]).out, { mode: 0o755 });
      scripts[name] = file;
    }
    const scriptlet = (name: string, arg: string): { code: number | null; err: string; calls: string[] } => {
      const before = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').length;
      const r = sh(['bash', scripts[name] ?? '', arg], { PATH: `${bin}:/usr/bin:/bin`, STUB_LOG: log, STUB_ROOT: root, EA_ROOT: root });
      return { code: r.code, err: r.err, calls: readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').slice(before) };
    };

    // systemd "runs" in the scratch root, so start/stop/reload calls show up.
    await mkdir(join(root, 'run/systemd/system'), { recursive: true });
    for (const name of Object.keys(scripts)) t.equal(sh(['bash', '-n', scripts[name] ?? '']).code, 0, `bash -n %${name}`);

    t.equal(scriptlet('pre', '1').code, 0);
    t.match(await readFile(join(root, 'etc/passwd'), 'utf8'), /^etcd:/m, '%pre: the etcd user');
    const post = scriptlet('post', '1');
    t.equal(post.code, 0, post.err);
    t.same(post.calls.filter((c) => c.startsWith('systemctl')), ['systemctl daemon-reload', `systemctl --root=${root} enable etcd-agent.service`]);
    t.equal(statSync(join(root, 'var/lib/etcd-agent')).mode & 0o777, 0o700);
    t.ok(existsSync(join(root, 'etc/etcd/pki')));

    // The node gets configured; then an upgrade (new %pre 2, %post 2; old %preun 1, %postun 1).
    await writeFile(join(root, 'etc/etcd-agent/config.yaml'), 'cluster:\n  name: prod\n', { mode: 0o600 });
    await writeFile(join(root, 'var/lib/etcd-agent/node.json'), '{}\n');
    t.same(scriptlet('pre', '2').calls.filter((c) => c.startsWith('systemctl')), []);
    t.same(scriptlet('post', '2').calls.filter((c) => c.startsWith('systemctl')), ['systemctl daemon-reload'], 'no re-enable on upgrade');
    t.same(scriptlet('preun', '1').calls, []);
    t.same(scriptlet('postun', '1').calls, ['systemctl daemon-reload', 'systemctl try-restart etcd-agent.service']);

    // Erase: %preun 0, the files go, %postun 0.
    t.same(scriptlet('preun', '0').calls, ['systemctl stop etcd-agent.service', `systemctl --root=${root} disable etcd-agent.service`]);
    const erase = sh(['rpm', '--root', root, '-e', '--noscripts', 'etcd-agent']);
    t.equal(erase.code, 0, erase.err);
    t.same(scriptlet('postun', '0').calls, ['systemctl daemon-reload']);
    t.notOk(existsSync(join(root, 'usr/lib/etcd-agent')), 'the program is gone');
    t.ok(existsSync(join(root, 'etc/etcd-agent/config.yaml.rpmsave')), 'a changed config is kept as .rpmsave');
    t.ok(existsSync(join(root, 'var/lib/etcd-agent/node.json')), 'the state stays (RPM has no purge)');
  });
}

const why = packagingUnsupported();
if (why !== undefined) {
  process.stderr.write(`\n!!! SKIPPING rpm test: ${why} !!!\n\n`);
  t.comment(`SKIPPING rpm test: ${why}`);
  t.skip(why, () => undefined);
} else {
  await main();
}
