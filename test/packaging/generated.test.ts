import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { main } from '../../src/agent/cli.js';
import { INIT_OPTIONS } from '../../src/agent/commands/init.js';
import { CONFIG_FIELDS, validateRawConfig } from '../../src/agent/config/index.js';
import { generateToken } from '../../src/pki/token.js';
import { renderConfigTemplate, uncommentTemplate } from '../../packaging/gen/config-template.js';
import { cloudInitOneLiner as oneLiner } from '../helpers/packages.js';
import { commandHelps, renderManPage } from '../../packaging/gen/man-page.js';
import { REPO, tempDir } from '../helpers/fixtures.js';

/**
 * What the packages generate from the sources, checked against the sources:
 * the config template against the config schema, the man page against the
 * --help texts, the cloud-init examples against cloud-init's schema and the
 * flags `etcd-agent init` accepts. No build needed.
 */

const CLOUD_INIT_DIR = join(REPO, 'packaging', 'cloud-init');

const TOKEN = generateToken();
const context = {
  hostname: 'node-a',
  networkInterfaces: { eth0: [{ address: '10.0.0.11', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '00:00:00:00:00:01', internal: false, cidr: '10.0.0.11/24' }] },
  readTokenFile: () => ({ ok: true as const, content: `${TOKEN}\n`, mode: 0o600 }),
};

t.test('config template: every key of the schema, all commented out, defaults that validate', async (t) => {
  const text = renderConfigTemplate();
  const lines = text.split('\n');
  t.ok(lines.every((l) => l === '' || l.startsWith('#')), 'every line is a comment');
  t.equal(parse(text), null, 'as YAML it sets nothing');
  for (const f of CONFIG_FIELDS) {
    const key = f.path.includes('.') ? f.path.slice(f.path.indexOf('.') + 1) : f.path;
    t.match(text, new RegExp(`^#(?: {2}(?:# )?)?${key}:`, 'm'), `${f.path} is shown`);
    if (f.env !== undefined) t.match(text, f.env, `${f.path}: its environment variable is named`);
  }

  // Uncommented, the template is a valid config equal to what the defaults give.
  const raw = parse(uncommentTemplate(text)) as Record<string, unknown>;
  const full = validateRawConfig(raw, {}, context);
  t.same(full.problems, [], 'the uncommented template validates');
  const minimal = validateRawConfig({ cluster: { name: 'prod', size: 3, tokenFile: '/etc/etcd-agent/token' } }, {}, context);
  t.same(minimal.problems, []);
  const strip = (c: unknown): unknown => JSON.parse(JSON.stringify(c, (k, v: unknown) => (k === 'source' ? undefined : v)));
  t.same(strip(full.config), strip(minimal.config), 'every value shown is the default (or the example for required keys)');
});

t.test('config template: a schema key without a shown default fails the build, naming it', async (t) => {
  // The renderer is table-driven; the guard is what keeps it from drifting.
  const src = await readFile(join(REPO, 'packaging', 'gen', 'config-template.ts'), 'utf8');
  t.match(src, 'has no shown default in packaging/gen/config-template.ts; add one');
  t.match(src, 'is not a key of CONFIG_FIELDS any more');
});

/** Every --flag a help text mentions. */
function flagsIn(help: string): string[] {
  return [...new Set([...help.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]))];
}

t.test('man page: every command and every option of the --help texts', async (t) => {
  const roff = renderManPage('1.2.3', '2026-01-01');
  t.match(roff, /^\.TH ETCD\\-AGENT 1 "2026-01-01" "etcd\\-agent 1\.2\.3"/m);
  for (const { name, help } of commandHelps()) {
    t.match(roff, `.SS ${name.replace(/-/g, '\\-')}\n`, `section for ${name}`);
    for (const flag of flagsIn(help)) t.ok(roff.includes(flag.replace(/-/g, '\\-')), `${name}: ${flag}`);
  }
  for (const name of Object.keys(INIT_OPTIONS)) t.ok(roff.includes(`\\-\\-${name.replace(/-/g, '\\-')}`), `init --${name} (from INIT_OPTIONS)`);
  for (const f of CONFIG_FIELDS) t.ok(roff.includes(f.path.replace(/-/g, '\\-')), `config key ${f.path}`);

  const man = spawnSync('man', ['--version'], { encoding: 'utf8' });
  if (man.status !== 0) {
    t.comment('SKIPPING the groff check: man is not installed');
    return;
  }
  const dir = tempDir(t, 'ea-man-');
  await writeFile(join(dir, 'etcd-agent.1'), roff);
  // The check lintian runs (manpage-has-errors-from-man).
  const r = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', join(dir, 'etcd-agent.1')], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '80', LC_ALL: 'C.UTF-8' },
  });
  t.equal(r.status, 0);
  t.equal(r.stderr, '', 'groff has no warnings');
});

interface UserData {
  write_files?: { path: string; permissions?: string; content?: string }[];
  runcmd?: (string | string[])[];
}

function examples(): string[] {
  return readdirSync(CLOUD_INIT_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(CLOUD_INIT_DIR, f));
}

t.test('cloud-init examples: valid for cloud-init, token via write_files 0600, one-liners documented', async (t) => {
  const files = examples();
  t.ok(files.length >= 2, 'a seeds example and an mDNS example');
  const docs = await readFile(join(REPO, 'docs', 'packaging.md'), 'utf8');
  const ci = spawnSync('cloud-init', ['--version'], { encoding: 'utf8' });
  if (ci.status !== 0) process.stderr.write('\n!!! SKIPPING cloud-init schema validation: cloud-init is not installed (scripts/setup-deps.sh installs it) !!!\n\n');
  for (const file of files) {
    const name = file.slice(CLOUD_INIT_DIR.length + 1);
    if (ci.status === 0) {
      const r = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
      t.equal(r.status, 0, `${name}: cloud-init schema: ${r.stdout}${r.stderr}`);
      t.match(r.stdout, 'Valid cloud-config', name);
    } else {
      t.skip(`${name}: cloud-init schema (cloud-init missing)`, () => undefined);
    }
    const data = parse(readFileSync(file, 'utf8')) as UserData;
    const line = oneLiner(file);
    const tokenFile = /--token-file (\S+)/.exec(line)?.[1];
    t.ok(tokenFile, `${name}: the token comes from a file`);
    const wf = (data.write_files ?? []).find((w) => w.path === tokenFile);
    t.equal(wf?.permissions, '0600', `${name}: write_files puts the token in ${tokenFile} with mode 0600`);
    t.notOk(tokenFile?.startsWith('/run/') || tokenFile?.startsWith('/tmp/'), `${name}: the token file survives a reboot (the agent reads it at every start)`);
    t.ok(docs.includes(line), `${name}: docs/packaging.md shows this one-liner verbatim`);
    t.match(line, /^apt-get install -y \S+\.deb && etcd-agent init .* && systemctl enable --now etcd-agent$/, `${name}: install, init, enable --now`);
  }
  const lines = files.map(oneLiner);
  t.ok(lines.some((l) => /--seeds \S+/.test(l) && !l.includes('--mdns')), 'one example lists seeds');
  t.ok(lines.some((l) => l.includes('--mdns') && !l.includes('--seeds')), 'one example uses mDNS and no seeds');
});

t.test('the one-liners use exactly flags `etcd-agent init` accepts, and init accepts them', async (t) => {
  for (const file of examples()) {
    const line = oneLiner(file);
    const init = /etcd-agent init (.*?) &&/.exec(line)?.[1] ?? '';
    const args = init.split(/\s+/);
    for (const flag of args.filter((a) => a.startsWith('--'))) {
      t.ok(Object.hasOwn(INIT_OPTIONS, flag.slice(2)), `${flag} is an option of etcd-agent init`);
    }
    // Run init with those very arguments, the token file and config redirected into a scratch dir.
    const dir = tempDir(t, 'ea-oneliner-');
    const token = join(dir, 'join-token');
    await writeFile(token, `${generateToken()}\n`, { mode: 0o600 });
    const replaced = args.map((a, i) => (args[i - 1] === '--token-file' ? token : a));
    let err = '';
    const code = await main(['init', ...replaced, '--config', join(dir, 'config.yaml'), '--advertise-address', '127.0.0.11', '--name', 'n1'], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (err += s) },
      env: {},
      cwd: dir,
    });
    t.equal(code, 0, `${file}: ${err}`);
    t.ok(existsSync(join(dir, 'config.yaml')));
  }
});
