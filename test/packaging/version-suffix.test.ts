/**
 * A build with PKG_VERSION_SUFFIX (how a newer build of the same sources is
 * made, e.g. for the upgrade step of test/e2e/package-deb.test.ts, which then
 * finds this very package in the build cache): the suffix is in the file
 * name, in dpkg's Version field and in the version the packaged agent
 * reports; nothing else about the package changes.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPackages, packagingUnsupported } from '../helpers/packages.js';
import { REPO, tempDir } from '../helpers/fixtures.js';

t.setTimeout(20 * 60_000);

function sh(argv: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; out: string; err: string } {
  const [file, ...args] = argv;
  const r = spawnSync(file ?? 'false', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const why = packagingUnsupported();
if (why !== undefined) {
  process.stderr.write(`\n!!! SKIPPING version-suffix packaging test: ${why} !!!\n\n`);
  t.skip(why, () => undefined);
} else {
  const base = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  // The same options as package-deb's upgrade step: one build serves both.
  const up = await buildPackages({ suffix: '+up1', only: 'deb', log: (l) => t.comment(l) });
  t.equal(up.version, `${base}+up1`);
  t.equal(up.deb.split('/').pop(), `etcd-agent_${base}+up1_amd64.deb`, 'the suffix is in the file name');
  t.equal(up.rpm, undefined, 'only the .deb was asked for');
  t.equal(sh(['dpkg-deb', '-f', up.deb, 'Version']).out.trim(), `${base}+up1`, "dpkg's Version field");
  t.equal(sh(['dpkg-deb', '-f', up.deb, 'Package']).out.trim(), 'etcd-agent');
  const dir = tempDir(t, 'ea-suffix-');
  const x = sh(['dpkg-deb', '-x', up.deb, dir]);
  t.equal(x.code, 0, x.err);
  const lib = join(dir, 'usr', 'lib', 'etcd-agent');
  t.equal((JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8')) as { version: string }).version, `${base}+up1`, 'the packaged package.json carries it');
  // Not tap's environment (its loader hooks in NODE_OPTIONS): as the installed wrapper runs it.
  const v = sh([join(lib, 'node', 'bin', 'node'), join(lib, 'bin', 'etcd-agent.js'), '--version'], { PATH: '/usr/bin:/bin' });
  t.equal(v.out, `etcd-agent ${base}+up1\n`, `the packaged agent reports it, on its bundled node (${v.err.trim()})`);
}
