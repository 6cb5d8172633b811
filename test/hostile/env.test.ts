/**
 * Catalogue: hostile ETCD_AGENT_* environment overrides through the real
 * check-config. Refused with exit 2 and the variable's name; nothing changes.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateToken } from '../../src/pki/token.js';
import { tempDir } from '../helpers/fixtures.js';
import { baseConfig, checkConfig, snapshotTree, treeChanges } from './catalogue.js';
import { ENV_CASES } from './env-cases.js';

const TOKEN = generateToken();

t.test(`${ENV_CASES.length} hostile environment overrides are refused, nothing changes`, async (t) => {
  for (const c of ENV_CASES) {
    await t.test(c.name, async (t) => {
      const dir = tempDir(t, 'ea-hostile-env-');
      await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
      const file = join(dir, 'config.yaml');
      await writeFile(file, stringify(baseConfig(dir)), { mode: 0o600 });
      const before = await snapshotTree(dir);
      // ETCD_AGENT_CONFIG only counts when --config is absent: the missing-file row checks that path.
      const { code, output } = c.env.ETCD_AGENT_CONFIG ? await checkConfig(undefined, c.env) : await checkConfig(file, c.env);
      t.equal(code, 2, `exit 2: ${output}`);
      for (const s of [...c.says, ...(c.env.ETCD_AGENT_CONFIG ? [c.env.ETCD_AGENT_CONFIG] : [])]) {
        t.ok(output.includes(s), `message names ${JSON.stringify(s)}: ${output.trim().slice(0, 400)}`);
      }
      const envToken = c.env.ETCD_AGENT_CLUSTER_TOKEN;
      if (envToken !== undefined) t.notOk(output.includes(envToken), 'a token from the environment is never printed');
      t.notOk(output.includes(TOKEN), 'the token is never printed');
      t.same(treeChanges(before, await snapshotTree(dir)), [], 'nothing on disk changed');
    });
  }
});
