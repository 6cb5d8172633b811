import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { renderConfigTemplate } from '../../packaging/gen/config-template.js';
import { renderManPage } from '../../packaging/gen/man-page.js';
import { assembleMaintScript, buildPackages, packagingUnsupported } from '../helpers/packages.js';
import { REPO, tempDir } from '../helpers/fixtures.js';

/**
 * `npm run package` from a clean copy of the sources (test/helpers/packages.ts
 * copies the build inputs, runs npm ci, then the one command), and what comes
 * out: layout, conffile, lint, and that what is packaged is what the sources
 * generate.
 */

t.setTimeout(20 * 60_000);


function sh(argv: string[], options: { env?: NodeJS.ProcessEnv } = {}): { code: number | null; out: string; err: string } {
  const [file, ...args] = argv;
  const r = spawnSync(file ?? 'false', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Entry {
  perms: string;
  owner: string;
  path: string;
}

/** Paths every package holds, below /usr/lib/etcd-agent. */
const LIB_REQUIRED = [
  'node/bin/node',
  'node/LICENSE',
  'bin/etcd-agent.js',
  'dist/bundle/etcd-agent.js',
  'dist/bundle/THIRD-PARTY-LICENSES',
  'package.json',
  'package-lock.json',
  'dist/bundle/proto/rpc.proto',
  'dist/bundle/proto/kv.proto',
  'dist/bundle/proto/auth.proto',
  'node_modules/sd-notify/build/Release/notify.node',
];

/** Bundled into dist/bundle, so not shipped as modules (scripts/bundle.mjs). */
const LIB_BUNDLED = ['dist/agent', 'node_modules/etcd3', 'node_modules/fastify', 'node_modules/@grpc', 'node_modules/node-forge', 'node_modules/pino'];

/** Nothing of this kind is shipped: build leftovers, dev files, other packages' paths. */
const FORBIDDEN = [/\.map$/, /\.d\.ts$/, /\/node_modules\/\.bin\//, /\/(test|tests|__tests__)\//, /\/\.[^/]+$/, /\/sd-notify\/build\/(?!Release(\/notify\.node)?$)/, /\/node_modules\/.*\.[mc]?ts$/, /^\/var\/lib\/etcd/, /^\/etc\/etcd\//];

async function main(): Promise<void> {
  const pkgs = await buildPackages({ log: (l) => t.comment(l) });
  const { version } = pkgs;
  const deb = pkgs.deb;
  const rpm = pkgs.rpm ?? '';
  if (pkgs.seconds !== undefined) t.comment(`clean-tree build (npm ci + npm run package): ${pkgs.seconds} s`);
  const mb = (f: string): string => `${(statSync(f).size / 1e6).toFixed(1)} MB`;
  t.comment(`sizes: ${deb.split('/').pop()} ${mb(deb)}, ${rpm.split('/').pop()} ${mb(rpm)}`);

  t.test('one command, versioned names', async (t) => {
    const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    t.equal(scripts.package, 'bash packaging/build.sh');
    t.equal(deb.split('/').pop(), `etcd-agent_${version}_amd64.deb`);
    t.equal(rpm.split('/').pop(), `etcd-agent-${version}-1.x86_64.rpm`);
    t.ok(statSync(deb).size < 40e6, `the .deb stays small (${mb(deb)})`);
    t.ok(statSync(rpm).size < 40e6, `the .rpm stays small (${mb(rpm)})`);
  });

  const debEntries: Entry[] = sh(['dpkg-deb', '-c', deb])
    .out.split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const parts = l.split(/\s+/);
      const path = (parts.slice(5).join(' ').split(' -> ')[0] ?? '').replace(/^\./, '').replace(/\/$/, '') || '/';
      return { perms: parts[0] ?? '', owner: parts[1] ?? '', path };
    });
  const rpmEntries: Entry[] = sh(['rpm', '-qp', '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILENAMES}\n]', rpm])
    .out.split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [perms = '', owner = '', ...rest] = l.split(' ');
      return { perms, owner, path: rest.join(' ') };
    });

  t.test('dpkg -c: the expected layout, nothing else, all root-owned', async (t) => {
    const paths = new Set(debEntries.map((e) => e.path));
    for (const p of LIB_REQUIRED) t.ok(paths.has(`/usr/lib/etcd-agent/${p}`), `/usr/lib/etcd-agent/${p}`);
    for (const p of [
      '/usr/bin/etcd-agent',
      '/lib/systemd/system/etcd-agent.service',
      '/etc/etcd-agent/config.yaml',
      '/usr/share/man/man1/etcd-agent.1.gz',
      '/usr/share/doc/etcd-agent/copyright',
      '/usr/share/doc/etcd-agent/changelog.gz',
      '/usr/share/doc/etcd-agent/examples/user-data.yaml',
      '/usr/share/doc/etcd-agent/examples/user-data-mdns.yaml',
      '/usr/share/lintian/overrides/etcd-agent',
    ]) {
      t.ok(paths.has(p), p);
    }
    const allowed = [
      /^\/usr\/lib\/etcd-agent(\/|$)/,
      /^\/usr\/bin\/etcd-agent$/,
      /^\/lib\/systemd\/system\/etcd-agent\.service$/,
      /^\/etc\/etcd-agent(\/config\.yaml)?$/,
      /^\/usr\/share\/man\/man1\/etcd-agent\.1\.gz$/,
      /^\/usr\/share\/doc\/etcd-agent(\/|$)/,
      /^\/usr\/share\/lintian\/overrides\/etcd-agent$/,
      /^\/(usr|lib|etc|usr\/bin|usr\/lib|usr\/share|usr\/share\/man|usr\/share\/man\/man1|usr\/share\/doc|usr\/share\/lintian|usr\/share\/lintian\/overrides|lib\/systemd|lib\/systemd\/system)?$/,
    ];
    const stray = debEntries.filter((e) => !allowed.some((re) => re.test(e.path)));
    t.same(stray.map((e) => e.path), [], 'no file outside the expected places');
    t.same(debEntries.filter((e) => FORBIDDEN.some((re) => re.test(e.path))).map((e) => e.path), [], 'no dev files or build leftovers');
    t.same([...new Set(debEntries.map((e) => e.owner))], ['root/root']);
    const modeOf = (p: string): string | undefined => debEntries.find((e) => e.path === p)?.perms;
    t.equal(modeOf('/usr/bin/etcd-agent'), '-rwxr-xr-x');
    t.equal(modeOf('/usr/lib/etcd-agent/node/bin/node'), '-rwxr-xr-x');
    t.equal(modeOf('/etc/etcd-agent/config.yaml'), '-rw-r--r--', 'the template holds no secret; init writes 0600');
    const executables = debEntries.filter((e) => e.perms.startsWith('-') && e.perms.includes('x')).map((e) => e.path);
    t.same(executables.sort(), ['/usr/bin/etcd-agent', '/usr/lib/etcd-agent/node/bin/node'], 'only node and the wrapper are executable');
    t.notOk(paths.has('/var/lib/etcd-agent'), 'the state dir is made by the maintainer script, not shipped');
  });

  t.test('rpm -qpl: the same tree, RPM paths, root-owned', async (t) => {
    const paths = new Set(rpmEntries.map((e) => e.path));
    for (const p of LIB_REQUIRED) t.ok(paths.has(`/usr/lib/etcd-agent/${p}`), `/usr/lib/etcd-agent/${p}`);
    for (const p of [
      '/usr/bin/etcd-agent',
      '/usr/lib/systemd/system/etcd-agent.service',
      '/etc/etcd-agent/config.yaml',
      '/usr/share/man/man1/etcd-agent.1.gz',
      '/usr/share/licenses/etcd-agent/LICENSE',
      '/usr/share/licenses/etcd-agent/copyright',
      '/usr/share/doc/etcd-agent/examples/user-data.yaml',
    ]) {
      t.ok(paths.has(p), p);
    }
    t.notOk(paths.has('/lib/systemd/system/etcd-agent.service'));
    t.notOk(paths.has('/var/lib/etcd-agent'), 'not owned: an erase keeps the state');
    const lib = (es: Entry[]): string[] => es.filter((e) => e.path.startsWith('/usr/lib/etcd-agent/')).map((e) => `${e.perms} ${e.path}`).sort();
    t.same(lib(rpmEntries), lib(debEntries), '/usr/lib/etcd-agent is identical in both, modes included');
    t.same(rpmEntries.filter((e) => FORBIDDEN.some((re) => re.test(e.path))).map((e) => e.path), []);
    t.same([...new Set(rpmEntries.map((e) => e.owner))], ['root/root']);
  });

  t.test('the config file is a conffile (deb) and %config(noreplace) (rpm)', async (t) => {
    const conffiles = sh(['sh', '-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xO ./conffiles`]);
    t.equal(conffiles.out, '/etc/etcd-agent/config.yaml\n');
    const flags = sh(['rpm', '-qp', '--qf', '[%{FILENAMES} %{FILEFLAGS:fflags}\n]', rpm]).out;
    t.match(flags, /^\/etc\/etcd-agent\/config\.yaml cn$/m, 'c = config, n = noreplace');
    t.equal(sh(['rpm', '-qp', '--configfiles', rpm]).out, '/etc/etcd-agent/config.yaml\n', 'the only config file');
  });

  t.test('control data: dependencies from the distribution only', async (t) => {
    const field = (f: string): string => sh(['dpkg-deb', '-f', deb, f]).out.trim();
    t.equal(field('Version'), version);
    t.equal(field('Architecture'), 'amd64');
    t.match(field('Depends'), /^libc6 \(>= [\d.]+\), libgcc-s1 \(>= [\d.]+\), libstdc\+\+6 \(>= [\d.]+\), libsystemd0 \(>= [\d.]+\)$/);
    t.equal(field('Recommends'), 'etcd-server');
    t.notMatch(field('Depends'), /nodejs|etcd/, 'no Node.js, etcd only recommended');
    const requires = sh(['rpm', '-qp', '--requires', rpm]).out;
    t.match(requires, 'libsystemd.so.0()(64bit)');
    t.match(requires, 'libc.so.6(GLIBC_2.28)(64bit)');
    t.notMatch(requires, /\/usr\/bin\/(env|node|python|perl)|nodejs/, 'no interpreter from node_modules scripts');
    t.equal(sh(['rpm', '-qp', '--recommends', rpm]).out.trim(), 'etcd');
    t.notMatch(sh(['rpm', '-qp', '--provides', rpm]).out, /\.so/, 'bundled libraries are not exported');
  });

  t.test('lintian: no errors, no warnings (overrides justified in packaging/deb/lintian-overrides)', async (t) => {
    const r = sh(['lintian', '--fail-on', 'error,warning', '--display-info', '--tag-display-limit', '0', deb]);
    const lines = r.out.split('\n').filter((l) => /^[EWIXO]: /.test(l));
    t.same(lines.filter((l) => l.startsWith('E:')), [], 'no errors');
    t.same(lines.filter((l) => l.startsWith('W:')), [], 'no warnings');
    t.equal(r.code, 0, r.out + r.err);
    t.comment(`lintian: ${lines.filter((l) => l.startsWith('I:')).length} informational tags (license files inside node_modules, spelling in node's strings, ...)`);
  });

  t.test('rpmlint: no errors (filters justified in packaging/rpm/rpmlint.toml)', async (t) => {
    const r = sh(['rpmlint', '-c', join(REPO, 'packaging', 'rpm', 'rpmlint.toml'), rpm]);
    const summary = /(\d+) errors, (\d+) warnings/.exec(r.out);
    t.ok(summary, r.out);
    t.equal(summary?.[1], '0', `no errors:\n${r.out.split('\n').filter((l) => l.includes(': E: ')).join('\n')}`);
    t.equal(r.code, 0);
    t.comment(`rpmlint: ${summary?.[2] ?? '?'} warnings: ${r.out.split('\n').filter((l) => l.includes(': W: ')).map((l) => l.split(': W: ')[1]).join('; ')}`);
  });

  t.test('what is packaged is what the sources generate; the unpacked agent runs without a host node', async (t) => {
    const dir = tempDir(t, 'ea-deb-x-');
    t.equal(sh(['dpkg-deb', '-x', deb, join(dir, 'root')]).code, 0);
    t.equal(sh(['dpkg-deb', '-e', deb, join(dir, 'DEBIAN')]).code, 0);
    const root = join(dir, 'root');
    t.equal(await readFile(join(root, 'etc/etcd-agent/config.yaml'), 'utf8'), renderConfigTemplate(), 'config.yaml is the schema-generated template');
    const man = gunzipSync(await readFile(join(root, 'usr/share/man/man1/etcd-agent.1.gz'))).toString('utf8');
    const date = /^\.TH ETCD\\-AGENT 1 "(\d{4}-\d{2}-\d{2})"/m.exec(man)?.[1] ?? '';
    t.equal(man, renderManPage(version, date), 'the man page is the one rendered from the --help texts');
    t.equal(
      await readFile(join(root, 'lib/systemd/system/etcd-agent.service'), 'utf8'),
      await readFile(join(REPO, 'packaging/systemd/etcd-agent.service'), 'utf8'),
      'the unit is packaging/systemd/etcd-agent.service',
    );
    for (const s of ['postinst', 'prerm', 'postrm']) {
      t.equal(await readFile(join(dir, 'DEBIAN', s), 'utf8'), assembleMaintScript(`deb/${s}`), `DEBIAN/${s} is the source with the shared library`);
      t.equal(statSync(join(dir, 'DEBIAN', s)).mode & 0o777, 0o755);
      t.equal(sh(['bash', '-n', join(dir, 'DEBIAN', s)]).code, 0, `bash -n DEBIAN/${s}`);
    }
    for (const [tag, s] of [
      ['PREIN', 'pre'],
      ['POSTIN', 'post'],
      ['PREUN', 'preun'],
      ['POSTUN', 'postun'],
    ] as const) {
      const text = sh(['rpm', '-qp', '--qf', `%{${tag}}`, rpm]).out;
      t.equal(text.trim(), assembleMaintScript(`rpm/scriptlets/${s}`).trim(), `rpm %${s} is the source with the shared library`);
      t.equal(sh(['rpm', '-qp', '--qf', `%{${tag}PROG}`, rpm]).out, '/bin/bash', `%${s} runs with bash`);
    }

    const lib = join(root, 'usr/lib/etcd-agent');
    const wrapper = await readFile(join(root, 'usr/bin/etcd-agent'), 'utf8');
    t.match(wrapper, 'exec /usr/lib/etcd-agent/node/bin/node /usr/lib/etcd-agent/bin/etcd-agent.js "$@"');
    const clean = { PATH: '/usr/bin:/bin' };
    const v = sh([join(lib, 'node/bin/node'), join(lib, 'bin/etcd-agent.js'), '--version'], { env: clean });
    t.equal(v.out, `etcd-agent ${version}\n`, v.err);
    const mods = spawnSync(join(lib, 'node/bin/node'), ['-e', "require('sd-notify')"], { cwd: lib, env: clean, encoding: 'utf8' });
    t.equal(mods.status, 0, `sd-notify, the module outside the bundle, loads with the bundled node, its addon included: ${mods.stderr}`);
    for (const p of LIB_BUNDLED) t.notOk(existsSync(join(lib, p)), `${p} is not shipped: it is in the bundle`);
    t.same(Object.keys((JSON.parse(await readFile(join(lib, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies), ['sd-notify'], "the shipped package.json lists only what node_modules holds");
    t.equal(sh([join(lib, 'node/bin/node'), '--version']).out.trim(), 'v20.20.2');
    const help = sh([join(lib, 'node/bin/node'), join(lib, 'bin/etcd-agent.js'), 'init', '--help'], { env: clean });
    t.match(help.out, '--token-file FILE');
    const copyright = await readFile(join(root, 'usr/share/doc/etcd-agent/copyright'), 'utf8');
    t.match(copyright, /^Files: usr\/lib\/etcd-agent\/node\/\*$/m, 'Node.js is covered');
    t.match(copyright, /^Files: usr\/lib\/etcd-agent\/dist\/bundle\/\*$/m, 'the bundle is covered');
    t.match(copyright, /^ fastify \d+\.\d+\.\d+ \(MIT\)$/m, 'the modules in the bundle are listed');
    t.match(copyright, /^Files: usr\/lib\/etcd-agent\/node_modules\/sd-notify\/\*$/m, 'the modules outside the bundle are covered');
    const thirdParty = await readFile(join(lib, 'dist/bundle/THIRD-PARTY-LICENSES'), 'utf8');
    t.match(thirdParty, /^fastify \d+\.\d+\.\d+ \(MIT\)/m, 'licence texts of the bundled modules ship with the bundle');
    t.match(copyright, /^License: Apache-2\.0$/m);
  });
}

const why = packagingUnsupported();
if (why !== undefined) {
  process.stderr.write(`\n!!! SKIPPING packaging build test: ${why} !!!\n\n`);
  t.comment(`SKIPPING packaging build test: ${why}`);
  t.skip(why, () => undefined);
} else {
  await main();
}
