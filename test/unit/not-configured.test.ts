import t, { type Test } from 'tap';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/agent/cli.js';
import { NOT_CONFIGURED, loadConfig, setsNoKeys, type ConfigError } from '../../src/agent/config/index.js';
import { generateToken } from '../../src/pki/token.js';
import { renderConfigTemplate } from '../../packaging/gen/config-template.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * A node where the package is installed but `etcd-agent init` has not run:
 * its config is the commented-out template (or absent). `run` must say "not
 * configured" and exit 0 (so systemd does not restart it), `check-config`
 * exit 2, and `init` must replace the template without --force.
 */

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    cwd: process.cwd(),
  });
  return { code, out, err };
}

async function nodeRoot(t: Test, withTemplate: boolean): Promise<{ root: string; config: string }> {
  const root = tempDir(t, 'ea-notconf-');
  const config = join(root, 'etc', 'etcd-agent', 'config.yaml');
  if (withTemplate) {
    await mkdir(join(root, 'etc', 'etcd-agent'), { recursive: true });
    await writeFile(config, renderConfigTemplate(), { mode: 0o644 });
  }
  return { root, config };
}

t.test('setsNoKeys: comments, empty and {} set nothing; any key or a YAML error does', async (t) => {
  t.ok(setsNoKeys(renderConfigTemplate()), 'the packaged template');
  t.ok(setsNoKeys(''));
  t.ok(setsNoKeys('# only a comment\n'));
  t.ok(setsNoKeys('{}\n'));
  t.notOk(setsNoKeys('cluster:\n  name: prod\n'));
  t.notOk(setsNoKeys('cluster: [\n'), 'a broken file is not "unconfigured": it is reported as broken');
  t.notOk(setsNoKeys('- a\n'), 'a list is not an empty config');
});

t.test('the packaged template at the default path: check-config exits 2 saying "not configured", run exits 0 saying so', async (t) => {
  // --root DIR puts the default config path at DIR/etc/etcd-agent/config.yaml.
  const { root, config } = await nodeRoot(t, true);
  const check = await cli(['check-config', '--root', root]);
  t.equal(check.code, 2);
  t.match(check.err, `etcd-agent: not configured: ${config} sets no keys yet`);
  t.match(check.err, 'etcd-agent init --cluster NAME --size N --token-file FILE');

  const run = await cli(['run', '--root', root]);
  t.equal(run.code, 0, 'exits cleanly: nothing failed');
  t.match(run.err, `etcd-agent: not configured: ${config} sets no keys yet`);
  t.match(run.err, 'systemctl start etcd-agent');
  t.notMatch(run.err, /EA_|stack|at .*\.js/, 'a sentence, not a stack trace');

  const err = await loadConfig({ root, env: {} }).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.equal(err?.code, NOT_CONFIGURED);
  t.equal(err?.exitCode, 2);
});

t.test('the same template named explicitly (--config, ETCD_AGENT_CONFIG) is an error: exit 2 from run too', async (t) => {
  const { config } = await nodeRoot(t, true);
  for (const [how, argv, env] of [
    ['--config', ['run', '--config', config], {}],
    ['ETCD_AGENT_CONFIG', ['run'], { ETCD_AGENT_CONFIG: config }],
  ] as const) {
    const run = await cli([...argv], { ...env });
    t.equal(run.code, 2, `${how}: a named file without keys is a mistake, not a fresh node`);
    t.match(run.err, `etcd-agent: config file ${config} sets no keys`, how);
    t.notMatch(run.err, 'not configured', how);
  }
  const check = await cli(['check-config', '--config', config]);
  t.equal(check.code, 2);
  t.match(check.err, `config file ${config} sets no keys`);
});

t.test('a missing default config is "not configured"; a missing --config/ETCD_AGENT_CONFIG file stays an error', async (t) => {
  const { root } = await nodeRoot(t, false);
  const byRoot = await loadConfig({ root, env: {} }).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.equal(byRoot?.code, NOT_CONFIGURED);
  t.match(byRoot?.message ?? '', 'does not exist');

  const explicit = await cli(['run', '--config', join(root, 'typo.yaml')]);
  t.equal(explicit.code, 2, 'a named file that is missing is a mistake, not a fresh node');
  t.match(explicit.err, 'does not exist: run `etcd-agent init');
  const viaEnv = await cli(['run'], { ETCD_AGENT_CONFIG: join(root, 'typo.yaml') });
  t.equal(viaEnv.code, 2);
});

t.test('environment overrides count as configuration: the template plus ETCD_AGENT_* is validated, not "not configured"', async (t) => {
  const { config } = await nodeRoot(t, true);
  const r = await cli(['check-config', '--config', config], { ETCD_AGENT_CLUSTER_NAME: 'prod' });
  t.equal(r.code, 2);
  t.notMatch(r.err, 'not configured');
  t.match(r.err, 'cluster.size is missing');
});

t.test('init replaces the packaged template without --force, but never a real config', async (t) => {
  const { root, config } = await nodeRoot(t, true);
  const token = generateToken();
  const args = ['init', '--config', config, '--cluster', 'prod', '--size', '3', '--token', token, '--advertise-address', '127.0.0.11', '--name', 'n1', '--root', root];
  const first = await cli(args);
  t.equal(first.code, 0, first.err);
  const written = await readFile(config, 'utf8');
  t.match(written, /cluster:\n {2}name: prod/);
  t.equal((await stat(config)).mode & 0o777, 0o600, 'the written config is 0600 although the template was 0644');
  t.equal((await cli(['check-config', '--config', config])).code, 0);

  const other = await cli([...args.slice(0, 4), 'other', ...args.slice(5)]);
  t.equal(other.code, 2, 'a config with keys is kept');
  t.match(other.err, 'already exists with different content');
  t.equal(await readFile(config, 'utf8'), written);
});
