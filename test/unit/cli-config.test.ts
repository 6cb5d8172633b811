import t from 'tap';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../src/agent/cli.js';
import { INIT_OPTIONS } from '../../src/agent/commands/init.js';
import { generateToken, tokenProblem } from '../../src/pki/token.js';
import { REPO, tempDir } from '../helpers/fixtures.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const TOKEN = generateToken();

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with captured output and a clean environment. */
async function cli(argv: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  });
  return { code, out, err };
}

/** Every file under dir with its content, for "nothing changed" checks. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out[`${p}/`] = '';
        await walk(p);
      } else out[p] = await readFile(p, 'utf8');
    }
  };
  await walk(dir);
  return out;
}

const INIT = (root: string, ...more: string[]): string[] => [
  'init',
  '--cluster',
  'demo',
  '--size',
  '3',
  '--token',
  TOKEN,
  '--root',
  root,
  '--advertise-address',
  '127.0.0.11',
  '--name',
  'node-1',
  '--seeds',
  '127.0.0.12,127.0.0.13:2390,[::1]:2399',
  ...more,
];

t.test('init writes a config that check-config accepts; the token stays out of both', async (t) => {
  const dir = tempDir(t, 'ea-cli-');
  const root = join(dir, 'n1');
  const init = await cli(INIT(root));
  t.equal(init.code, 0, init.err);
  const configPath = join(root, 'etc/etcd-agent/config.yaml');
  const tokenPath = join(root, 'etc/etcd-agent/token');
  t.match(init.out, `wrote ${configPath}`);
  t.match(init.out, `etcd-agent run --config ${configPath}`, 'prints the next step');
  t.notOk(init.out.includes(TOKEN) || init.err.includes(TOKEN), 'init never prints the token');
  t.equal((await stat(configPath)).mode & 0o777, 0o600);
  t.equal((await stat(tokenPath)).mode & 0o777, 0o600);
  t.equal(await readFile(tokenPath, 'utf8'), `${TOKEN}\n`);
  const text = await readFile(configPath, 'utf8');
  t.notOk(text.includes(TOKEN), 'the config does not hold the token');
  t.match(text, `tokenFile: ${tokenPath}`);
  t.match(text, `root: ${root}`);

  const check = await cli(['check-config', '--config', configPath]);
  t.equal(check.code, 0, check.err);
  t.match(check.out, 'demo (size 3)');
  t.match(check.out, 'node-1');
  t.match(check.out, '127.0.0.11 (config)');
  t.match(check.out, '127.0.0.12:2390, 127.0.0.13:2390, [::1]:2399');
  t.match(check.out, /mdns\s+on/);
  t.match(check.out, /service manager\s+auto/);
  t.match(check.out, `${root}/var/lib/etcd/demo`);
  t.notOk(check.out.includes(TOKEN) || check.err.includes(TOKEN), 'check-config never prints the token');

  const viaEnv = await cli(['check-config'], { env: { ETCD_AGENT_CONFIG: configPath, ETCD_AGENT_CLUSTER_SIZE: '5' } });
  t.equal(viaEnv.code, 0, viaEnv.err);
  t.match(viaEnv.out, 'demo (size 5)', 'ETCD_AGENT_CONFIG names the file, overrides apply');

  const again = await cli(INIT(root));
  t.equal(again.code, 0, 'same flags again: nothing to do');
  t.match(again.out, `unchanged ${configPath}`);
});

t.test('init with --token-file references that file; relative paths resolve against the cwd', async (t) => {
  const dir = tempDir(t, 'ea-cli-');
  await writeFile(join(dir, 'tok'), `${TOKEN}\n`, { mode: 0o600 });
  const r = await cli(['init', '--cluster', 'c1', '--size', '1', '--token-file', 'tok', '--config', 'sub/agent.yaml', '--advertise-address', '127.0.0.21', '--no-mdns'], { cwd: dir });
  t.equal(r.code, 0, r.err);
  const text = await readFile(join(dir, 'sub/agent.yaml'), 'utf8');
  t.match(text, `tokenFile: ${join(dir, 'tok')}`);
  t.match(text, 'mdns: false');
  t.notOk(existsSync(join(dir, 'sub/token')), 'no token file is written for --token-file');
  const check = await cli(['check-config', '--config', join(dir, 'sub/agent.yaml')]);
  t.equal(check.code, 0, check.err);
  t.match(check.out, /mdns\s+off/);
});

t.test('init with an invalid field exits 2 and writes nothing', async (t) => {
  const rows: [string, string[], string][] = [
    ['size 10', ['--size', '10'], 'cluster.size'],
    ['size three', ['--size', 'three'], 'cluster.size'],
    ['short token', ['--token', 'short'], 'cluster.token'],
    ['exposed status API', ['--status-address', '0.0.0.0:2391'], 'statusApi.address'],
    ['bad seed port', ['--seeds', '127.0.0.12:0'], 'discovery.seeds'],
    ['bad peer port', ['--peer-port', '0'], 'peerApi.port'],
    ['Debian data dir', ['--data-dir', '/var/lib/etcd/default'], 'etcd.dataDir'],
    ['bogus service manager', ['--service-manager', 'upstart'], 'serviceManager'],
    ['bogus log level', ['--log-level', 'loud'], 'log.level'],
    ['same etcd ports', ['--client-port', '2380'], 'etcd.peerPort'],
  ];
  for (const [name, flags, key] of rows) {
    const dir = tempDir(t, 'ea-cli-');
    const before = await snapshot(dir);
    const r = await cli([...INIT(join(dir, 'n1')), ...flags]);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.err, /^etcd-agent: /, `${name}: error prefix`);
    t.match(r.err, key, `${name}: names ${key}`);
    t.match(r.err, 'nothing was written', name);
    t.notOk(r.err.includes(TOKEN), `${name}: no token in the message`);
    t.same(await snapshot(dir), before, `${name}: directory unchanged`);
  }
  const dir = tempDir(t, 'ea-cli-');
  const missing = await cli(['init', '--root', dir, '--advertise-address', '127.0.0.11']);
  t.equal(missing.code, 2);
  t.match(missing.err, '--cluster');
  t.match(missing.err, '--size');
  t.match(missing.err, '--token or --token-file');
  t.same(await readdir(dir), []);
});

t.test('init refuses to overwrite a different config unless --force', async (t) => {
  const dir = tempDir(t, 'ea-cli-');
  const root = join(dir, 'n1');
  t.equal((await cli(INIT(root))).code, 0);
  const configPath = join(root, 'etc/etcd-agent/config.yaml');
  const before = await snapshot(dir);
  const r = await cli(INIT(root, '--size', '5'));
  t.equal(r.code, 2);
  t.match(r.err, 'already exists');
  t.match(r.err, '--force');
  t.same(await snapshot(dir), before, 'nothing changed');

  const other = generateToken();
  const tok = await cli(INIT(root, '--token', other));
  t.equal(tok.code, 2, 'a different token is refused too');
  t.same(await snapshot(dir), before);

  const forced = await cli(INIT(root, '--size', '5', '--force'));
  t.equal(forced.code, 0, forced.err);
  t.match(await readFile(configPath, 'utf8'), 'size: 5');
});

t.test('check-config on a broken file exits 2 listing every problem', async (t) => {
  const dir = tempDir(t, 'ea-cli-');
  const file = join(dir, 'config.yaml');
  await writeFile(file, 'cluster:\n  name: Bad_Name\n  size: 12\n  token: tinysecret\nnode:\n  advertiseAddress: 127.0.0.11\nstatusApi:\n  address: 0.0.0.0:2391\ndiscovery:\n  seed: [a]\n', { mode: 0o600 });
  await chmod(file, 0o600);
  const r = await cli(['check-config', '--config', file]);
  t.equal(r.code, 2);
  t.equal(r.out, '');
  t.match(r.err, `etcd-agent: config file ${file} is invalid (5 problems):`);
  for (const key of ['cluster.name', 'cluster.size', 'cluster.token', 'statusApi.address', 'did you mean discovery.seeds?']) t.match(r.err, key);
  t.notOk(r.err.includes('tinysecret'), 'the token is not shown');

  const missing = await cli(['check-config', '--config', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.err, 'does not exist: run `etcd-agent init');

  await writeFile(file, 'cluster:\n  name: [\n');
  const syntax = await cli(['check-config', '--config', file]);
  t.equal(syntax.code, 2);
  t.match(syntax.err, `${file} line `);
});

t.test('token generate prints a valid token', async (t) => {
  const a = await cli(['token', 'generate']);
  const b = await cli(['token', 'generate']);
  t.equal(a.code, 0);
  const token = a.out.trim();
  t.equal(a.out, `${token}\n`, 'only the token on stdout');
  t.equal(tokenProblem(token), undefined);
  t.match(token, /^eat1_[A-Za-z0-9_-]{43}$/);
  t.not(token, b.out.trim(), 'a new token each time');
  const none = await cli(['token']);
  t.equal(none.code, 2);
  t.match(none.err, 'token generate');
  const bad = await cli(['token', 'rotate']);
  t.equal(bad.code, 2);
  t.match(bad.err, 'token rotate');
});

t.test('usage errors exit 2 naming the culprit and pointing at --help', async (t) => {
  const rows: [string[], string][] = [
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['--frob'], 'unknown option --frob'],
    [['init', '--bogus'], 'unknown option --bogus'],
    [['check-config', '--config'], 'option --config needs a value'],
    [['check-config', 'extra'], 'unexpected argument "extra"'],
    [['init', '--mdns', '--no-mdns', '--cluster', 'x'], 'contradict'],
    [['help', 'frobnicate'], 'unknown command "frobnicate"'],
    [['version', '--json'], 'unknown option --json'],
  ];
  for (const [argv, says] of rows) {
    const r = await cli(argv);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, /^etcd-agent: /);
    t.match(r.err, says, argv.join(' '));
    t.match(r.err, '--help', `${argv.join(' ')}: points at --help`);
  }
  const nothing = await cli([]);
  t.equal(nothing.code, 2);
  t.match(nothing.err, 'usage: etcd-agent');
});

t.test('version', async (t) => {
  for (const argv of [['version'], ['--version']]) {
    const r = await cli(argv);
    t.equal(r.code, 0);
    t.equal(r.out, `etcd-agent ${VERSION}\n`);
  }
});

t.test('help documents every command and every init option', async (t) => {
  for (const argv of [['--help'], ['help'], ['-h']]) {
    const r = await cli(argv);
    t.equal(r.code, 0);
    for (const c of ['run', 'init', 'check-config', 'status', 'token generate', 'version']) t.match(r.out, c);
  }
  for (const argv of [['init', '--help'], ['help', 'init']]) {
    const r = await cli(argv);
    t.equal(r.code, 0);
    for (const flag of Object.keys(INIT_OPTIONS)) t.match(r.out, `--${flag}`, `init help mentions --${flag}`);
  }
  for (const c of ['check-config', 'token', 'version']) {
    const r = await cli([c, '--help']);
    t.equal(r.code, 0);
    t.match(r.out, `usage: etcd-agent ${c}`);
  }
});

t.test('the built CLI runs as a subprocess', async (t) => {
  const bin = join(REPO, 'bin/etcd-agent.js');
  const built = join(REPO, 'dist/agent/cli.js');
  // Build dist from the current sources. tsc emits even when some other part of the tree has a type
  // error; that is reported here but only a missing output fails the test.
  try {
    await promisify(execFile)('npx', ['tsc', '-p', '.'], { cwd: REPO, timeout: 180_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; killed?: boolean };
    t.comment(`tsc -p . reported: ${(e.stdout ?? '') + (e.stderr ?? '')}`.slice(0, 2000));
    if (e.killed === true) t.fail('tsc -p . did not finish within 180 s');
  }
  t.ok(existsSync(built), `${built} was built`);
  // bin/etcd-agent.js runs the bundle made from dist/ (the second half of npm run build).
  await promisify(execFile)(process.execPath, ['scripts/bundle.mjs'], { cwd: REPO, timeout: 120_000 });
  t.ok(existsSync(join(REPO, 'dist/bundle/etcd-agent.js')), 'dist/bundle/etcd-agent.js was bundled');

  const dir = tempDir(t, 'ea-cli-');
  const root = join(dir, 'n1');
  t.equal((await cli(INIT(root))).code, 0);
  const configPath = join(root, 'etc/etcd-agent/config.yaml');
  const run = (args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [bin, ...args], { cwd: REPO, timeout: 30_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
        resolve({ code, out: stdout, err: stderr });
      });
    });
  const ok = await run(['check-config', '--config', configPath]);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, `config ${configPath} is valid`);

  await mkdir(join(dir, 'bad'));
  const badFile = join(dir, 'bad/config.yaml');
  await writeFile(badFile, 'cluster:\n  name: prod\n  size: 0\n');
  const bad = await run(['check-config', '--config', badFile]);
  t.equal(bad.code, 2);
  t.match(bad.err, /^etcd-agent: config file .* is invalid/);
  t.match(bad.err, 'cluster.size');

  const version = await run(['--version']);
  t.equal(version.code, 0);
  t.equal(version.out, `etcd-agent ${VERSION}\n`);
  const unknown = await run(['frobnicate']);
  t.equal(unknown.code, 2);
});
