import t, { type Test } from 'tap';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, type Enrollment } from '../../src/agent/bootstrap/state-store.js';
import { DATA_DIR_IN_USE, checkDataDir, dataDirProblem } from '../../src/agent/commands/data-dir-check.js';
import { ConfigError, validateRawConfig, type AgentConfig } from '../../src/agent/config/index.js';
import { writeDataDirClaim } from '../../src/agent/files/data-dir.js';
import { generateToken } from '../../src/pki/token.js';

/**
 * The data dir check `check-config` and `run` share: a data dir that holds
 * data is refused unless this node's state records that it claimed it.
 */

async function node(t: Test): Promise<{ config: AgentConfig; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ea-datadir-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const result = validateRawConfig(
    { cluster: { name: 'prod', size: 1, token: generateToken() }, node: { name: 'n1', advertiseAddress: '127.0.103.10' }, paths: { root } },
    {},
    { source: join(root, 'config.yaml'), hostname: 'n1', networkInterfaces: {} },
  );
  if (result.config === undefined) throw new Error(JSON.stringify(result.problems));
  return { config: result.config, root };
}

function enrollment(claimed: boolean): Enrollment {
  return {
    clusterName: 'prod',
    initialClusterToken: 'prod-x',
    view: [],
    caFingerprint: 'ab',
    enrolledAt: new Date().toISOString(),
    ...(claimed ? { dataDirClaimedAt: new Date().toISOString() } : {}),
  };
}

async function withData(config: AgentConfig): Promise<void> {
  await mkdir(join(config.etcd.dataDir, 'member', 'snap'), { recursive: true });
  await writeFile(join(config.etcd.dataDir, 'member', 'snap', 'db'), 'not ours');
}

t.test('absent or empty data dir: fine', async (t) => {
  const { config } = await node(t);
  t.equal(await dataDirProblem(config), undefined, 'absent');
  await mkdir(config.etcd.dataDir, { recursive: true });
  t.equal(await dataDirProblem(config), undefined, 'empty');
});

t.test('a data dir holding data this node did not claim is refused, naming etcd.dataDir and the directory', async (t) => {
  const cases: [string, (config: AgentConfig) => Promise<void>][] = [
    ['no state at all', async () => undefined],
    ['enrolled but never claimed', async (c) => {
      const store = new StateStore(c.paths.stateDir);
      await store.init();
      await store.saveEnrollment(enrollment(false));
    }],
  ];
  for (const [name, prepare] of cases) {
    await t.test(name, async (t) => {
      const { config, root } = await node(t);
      await withData(config);
      await prepare(config);
      const problem = await dataDirProblem(config);
      t.equal(problem?.key, 'etcd.dataDir');
      t.match(problem?.message, `etcd.dataDir ${config.etcd.dataDir} already holds data`);
      const err = await checkDataDir(config).then(() => undefined, (e: unknown) => e);
      t.ok(err instanceof ConfigError);
      t.equal((err as ConfigError).code, DATA_DIR_IN_USE);
      t.equal((err as ConfigError).exitCode, 2);
      t.match((err as ConfigError).message, join(root, 'config.yaml'), 'names the config file');
      t.equal(await readFile(join(config.etcd.dataDir, 'member', 'snap', 'db'), 'utf8'), 'not ours', 'the data is untouched');
    });
  }
});

t.test('a data dir this node claimed (a formed node) is fine', async (t) => {
  const { config } = await node(t);
  await withData(config);
  const store = new StateStore(config.paths.stateDir);
  await store.init();
  await store.saveEnrollment(enrollment(true));
  t.equal(await dataDirProblem(config), undefined);
  await checkDataDir(config);
});

t.test('this node name\'s own earlier data for this cluster (state dir lost) passes: the agent decides when it rejoins', async (t) => {
  const { config } = await node(t);
  await withData(config);
  await writeDataDirClaim(config.etcd.dataDir, { cluster: 'prod', name: 'n1', claimedAt: new Date().toISOString() });
  t.equal(await dataDirProblem(config), undefined, 'our own claim');
  await writeDataDirClaim(config.etcd.dataDir, { cluster: 'prod', name: 'n2', claimedAt: new Date().toISOString() });
  t.match((await dataDirProblem(config))?.message, 'already holds data', 'another node name\'s data is refused');
  await writeDataDirClaim(config.etcd.dataDir, { cluster: 'other', name: 'n1', claimedAt: new Date().toISOString() });
  t.match((await dataDirProblem(config))?.message, 'already holds data', 'another cluster\'s data is refused');
  await rm(join(config.etcd.dataDir, 'member'), { recursive: true });
  t.equal(await dataDirProblem(config), undefined, 'a claim file alone is no data');
});

t.test('a data dir path that is a file, or a state file that cannot be read, is refused', async (t) => {
  const { config } = await node(t);
  await mkdir(join(config.etcd.dataDir, '..'), { recursive: true });
  await writeFile(config.etcd.dataDir, 'x');
  t.match((await dataDirProblem(config))?.message, 'exists and is not a directory');

  const other = await node(t);
  await withData(other.config);
  await mkdir(other.config.paths.stateDir, { recursive: true });
  await writeFile(join(other.config.paths.stateDir, 'enrollment.json'), '{ not json');
  const before = await readdir(other.config.paths.stateDir);
  t.match((await dataDirProblem(other.config))?.message, 'cannot be told');
  t.same(await readdir(other.config.paths.stateDir), before, 'the state is left as it was');
});
