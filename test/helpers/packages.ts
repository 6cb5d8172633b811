/**
 * The .deb and .rpm for tests, built the way a release is: from a clean copy
 * of the sources (no dist/, no node_modules, no earlier packages), with
 * `npm ci` and then the one command `npm run package`.
 *
 *   const pkgs = await buildPackages({ log: (l) => t.comment(l) });
 *   pkgs.deb, pkgs.rpm, pkgs.version
 *
 * Builds are cached in .cache/packages/<key>, where the key hashes every file
 * the build reads plus the options, so several test files share one build
 * (and a rerun without source changes builds nothing). A lock file keeps two
 * test processes from building the same key at once.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { withLock } from './process-lock.js';
import { REPO } from './fixtures.js';

export const PACKAGE_CACHE = join(REPO, '.cache', 'packages');

/** What the build reads. Tests, docs and other scripts do not change the packages. */
const BUILD_INPUTS = ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'src', 'packaging', 'scripts/bundle.mjs', 'scripts/runtime-modules.mjs'];

export interface BuiltPackages {
  dir: string;
  version: string;
  deb: string;
  /** Absent when built with only: 'deb'. */
  rpm: string | undefined;
  /** Seconds the clean build took (npm ci + npm run package), when it ran in this process. */
  seconds: number | undefined;
  /** Output of npm run package. */
  log: string;
}

export interface BuildOptions {
  /** PKG_VERSION_SUFFIX, e.g. "+up1" for an upgrade build. */
  suffix?: string;
  only?: 'deb' | 'rpm';
  log?: (line: string) => void;
  timeoutMs?: number;
}

function runLogged(argv: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  const [file, ...args] = argv;
  return new Promise((resolveRun, reject) => {
    const child = spawn(file ?? 'false', args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveRun(out);
      else reject(new Error(`${argv.join(' ')} in ${options.cwd}: exit ${code ?? signal}\n${out.slice(-6000)}`));
    });
  });
}

/** Every file below the build inputs, relative to the repo, sorted. */
async function inputFiles(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = join(REPO, rel);
    const entries = await readdir(abs, { withFileTypes: true }).catch(() => undefined);
    if (entries === undefined) {
      if (existsSync(abs)) out.push(rel);
      return;
    }
    for (const e of entries) {
      const child = join(rel, e.name);
      if (e.isDirectory()) await walk(child);
      else if (e.isFile()) out.push(child);
    }
  };
  for (const input of BUILD_INPUTS) await walk(input);
  return out.sort();
}

async function cacheKey(files: string[], options: BuildOptions): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ suffix: options.suffix ?? '', only: options.only ?? 'both' }));
  for (const f of files) {
    h.update(`\0${f}\0`);
    h.update(await readFile(join(REPO, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Clean trees with their `npm ci` done, by source key, kept for this process:
 * a second build of the same sources (another suffix, as the upgrade test
 * needs) runs only `npm run package` in it. build.sh works in a directory of
 * its own, so a tree used once builds the same packages as a fresh one.
 * Removed by releaseCleanTrees(), and when the process exits.
 */
const cleanTrees = new Map<string, string>();
process.once('exit', () => releaseCleanTrees());

/** Removes the kept clean trees (a test calls it once its builds are done; exit does it too). */
export function releaseCleanTrees(): void {
  for (const tree of cleanTrees.values()) rmSync(tree, { recursive: true, force: true });
  cleanTrees.clear();
}

async function sourceKey(files: string[]): Promise<string> {
  return cacheKey(files, { suffix: '\0tree', only: undefined });
}

interface Manifest {
  version: string;
  deb: string;
  rpm?: string;
  log: string;
}

/** The packages for the current sources (and options), building them from a clean tree if needed. */
export async function buildPackages(options: BuildOptions = {}): Promise<BuiltPackages> {
  const log = options.log ?? (() => undefined);
  // Local iteration: ETCD_AGENT_TEST_PACKAGES=DIR uses packages already built there (npm run package) instead.
  const given = process.env.ETCD_AGENT_TEST_PACKAGES;
  if (given !== undefined && given !== '') return givenPackages(given, options, log);
  const files = await inputFiles();
  const key = await cacheKey(files, options);
  const dir = join(PACKAGE_CACHE, key);
  const manifestPath = join(dir, 'manifest.json');
  await mkdir(PACKAGE_CACHE, { recursive: true });
  return withLock(`${dir}.lock`, 30 * 60_000, async () => {
    if (existsSync(manifestPath)) {
      const m = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
      log(`packages for these sources are cached in ${dir}`);
      return { dir, version: m.version, deb: join(dir, m.deb), rpm: m.rpm === undefined ? undefined : join(dir, m.rpm), seconds: undefined, log: m.log };
    }
    await rm(dir, { recursive: true, force: true });
    const treeKey = await sourceKey(files);
    const reused = cleanTrees.get(treeKey);
    const tree = reused ?? (await mkdtemp(join(tmpdir(), 'etcd-agent-clean-tree-')));
    let keepTree = false;
    try {
      if (!reused) {
        for (const f of files) {
          await mkdir(dirname(join(tree, f)), { recursive: true });
          await copyFile(join(REPO, f), join(tree, f));
        }
      }
      // Executable bits matter for nothing but build.sh (run with bash anyway); keep it simple.
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PKG_OUT_DIR: dir,
        PKG_VERSION_SUFFIX: options.suffix ?? '',
        PKG_ONLY: options.only ?? '',
        // The copy has no git history; the repo's last commit dates the files (reproducible builds).
        SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH ?? (await gitCommitTime()),
      };
      const started = Date.now();
      const timeoutMs = options.timeoutMs ?? 15 * 60_000;
      if (reused) {
        log(`building packages in the clean copy of the same sources in ${tree} (npm ci done there already; npm run package)`);
      } else {
        log(`building packages from a clean copy of the sources in ${tree} (npm ci, npm run package; ≈2 min)`);
        await runLogged(['npm', 'ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: tree, env, timeoutMs });
      }
      const out = await runLogged(['npm', 'run', 'package'], { cwd: tree, env, timeoutMs });
      const seconds = Math.round((Date.now() - started) / 1000);
      const built = await readdir(dir);
      const deb = built.find((f) => f.endsWith('.deb'));
      const rpm = built.find((f) => f.endsWith('.rpm'));
      if (deb === undefined && options.only !== 'rpm') throw new Error(`npm run package made no .deb in ${dir}:\n${out}`);
      if (rpm === undefined && options.only !== 'deb') throw new Error(`npm run package made no .rpm in ${dir}:\n${out}`);
      const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version + (options.suffix ?? '');
      const manifest: Manifest = { version, deb: deb ?? '', log: out, ...(rpm !== undefined ? { rpm } : {}) };
      await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
      log(`packages built in ${seconds} s`);
      cleanTrees.set(treeKey, tree);
      keepTree = true;
      return { dir, version, deb: join(dir, deb ?? ''), rpm: rpm === undefined ? undefined : join(dir, rpm), seconds, log: out };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    } finally {
      if (!keepTree) {
        cleanTrees.delete(treeKey);
        await rm(tree, { recursive: true, force: true });
      }
    }
  });
}

async function givenPackages(dir: string, options: BuildOptions, log: (line: string) => void): Promise<BuiltPackages> {
  const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version + (options.suffix ?? '');
  const deb = join(dir, `etcd-agent_${version}_amd64.deb`);
  const rpm = join(dir, `etcd-agent-${version}-1.x86_64.rpm`);
  if (options.only !== 'rpm' && !existsSync(deb)) throw new Error(`ETCD_AGENT_TEST_PACKAGES=${dir}: ${deb} is missing`);
  log(`ETCD_AGENT_TEST_PACKAGES: using the packages in ${dir}, not a clean-tree build`);
  return { dir, version, deb, rpm: existsSync(rpm) ? rpm : undefined, seconds: undefined, log: '' };
}

async function gitCommitTime(): Promise<string> {
  try {
    return (await runLogged(['git', 'log', '-1', '--format=%ct'], { cwd: REPO, env: process.env, timeoutMs: 10_000 })).trim();
  } catch {
    return String(Math.floor(Date.now() / 1000));
  }
}

/**
 * A Debian maintainer script or RPM scriptlet (path below packaging/) with
 * packaging/lib/maint.sh pasted in at its @MAINT_LIB@ line, as build.sh does.
 */
export function assembleMaintScript(source: string): string {
  const lib = readFileSync(join(REPO, 'packaging', 'lib', 'maint.sh'), 'utf8').replace(/\n$/, '');
  return readFileSync(join(REPO, 'packaging', source), 'utf8')
    .split('\n')
    .map((line) => (line === '@MAINT_LIB@' ? lib : line))
    .join('\n');
}

/** The runcmd line of a cloud-init example that holds the one-liner (the line that runs `etcd-agent init`). */
export function cloudInitOneLiner(file: string): string {
  const data = parseYaml(readFileSync(file, 'utf8')) as { runcmd?: unknown[] };
  const line = (data.runcmd ?? []).find((c): c is string => typeof c === 'string' && c.includes('etcd-agent init'));
  if (line === undefined) throw new Error(`${file}: no runcmd line runs etcd-agent init`);
  return line;
}

const MAINT_STUB = `#!/bin/bash
# Test stub: logs its name and arguments; useradd/groupadd --root keep a passwd/group file.
name=$(basename "$0")
echo "$name $*" >>"$STUB_LOG"
case "$name" in
  getent)
    db=$1 key=$2
    grep -q "^$key:" "$STUB_ROOT/etc/$db" 2>/dev/null
    ;;
  groupadd | useradd)
    root=$STUB_ROOT
    if [ "$1" = --root ]; then root=$2; fi
    user=\${!#}
    file=$root/etc/group
    [ "$name" = useradd ] && file=$root/etc/passwd
    mkdir -p "$root/etc"
    if grep -q "^$user:" "$file" 2>/dev/null; then exit 9; fi
    echo "$user:x:999:999::/var/lib/etcd:/usr/sbin/nologin" >>"$file"
    ;;
  systemctl)
    exit "\${STUB_SYSTEMCTL_EXIT:-0}"
    ;;
esac
`;

/**
 * Stubs for systemctl, useradd, groupadd and getent in `binDir`, for running
 * maintainer scripts against a scratch root: each logs "name args" to
 * $STUB_LOG; useradd/groupadd keep $STUB_ROOT/etc/passwd and group (exit 9
 * when the name exists, like the real ones); systemctl exits
 * $STUB_SYSTEMCTL_EXIT (default 0).
 */
export async function writeMaintStubs(binDir: string): Promise<void> {
  await mkdir(binDir, { recursive: true });
  for (const name of ['systemctl', 'useradd', 'groupadd', 'getent']) {
    await writeFile(join(binDir, name), MAINT_STUB, { mode: 0o755 });
    await chmod(join(binDir, name), 0o755);
  }
}

/** Why packages cannot be built here, or undefined when they can. */
export function packagingUnsupported(): string | undefined {
  for (const tool of ['dpkg-deb', 'dpkg-shlibdeps', 'rpmbuild', 'npm']) {
    const found = (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, tool)));
    if (!found) return `needs ${tool} (bash scripts/setup-deps.sh installs it, as root)`;
  }
  return undefined;
}
