/**
 * Catalogue: hostile config files, each through the real `etcd-agent
 * check-config` (in process). Refused with exit 2 and a message that names
 * the problem; the token never printed; nothing in the directory changes.
 */
import t from 'tap';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateToken } from '../../src/pki/token.js';
import { tempDir } from '../helpers/fixtures.js';
import { baseConfig, checkConfig, snapshotTree, treeChanges, withChanges } from './catalogue.js';
import { CONFIG_CASES } from './config-cases.js';

const TOKEN = generateToken();

t.test(`${CONFIG_CASES.length} hostile config files are refused by check-config, nothing changes`, async (t) => {
  const names = new Set<string>();
  for (const c of CONFIG_CASES) {
    t.notOk(names.has(c.name), `case name "${c.name}" is unique`);
    names.add(c.name);
    await t.test(c.name, async (t) => {
      const dir = tempDir(t, 'ea-hostile-cfg-');
      await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
      const file = join(dir, 'config.yaml');
      const text = c.text ?? stringify(withChanges(baseConfig(dir), c.set ?? {}));
      await writeFile(file, text, { mode: 0o600 });
      await chmod(file, 0o600);
      const before = await snapshotTree(dir);
      const { code, output } = await checkConfig(file);
      t.equal(code, 2, `exit 2 (bad configuration): ${output}`);
      for (const s of c.says) t.ok(output.includes(s), `message names ${JSON.stringify(s)}: ${output.trim().slice(0, 400)}`);
      t.notOk(output.includes(TOKEN), 'the token is never printed');
      t.same(treeChanges(before, await snapshotTree(dir)), [], 'nothing on disk changed');
    });
  }
});

t.test('the base config of the catalogue is valid (so each row fails for its own reason)', async (t) => {
  const dir = tempDir(t, 'ea-hostile-cfg-');
  await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  const file = join(dir, 'config.yaml');
  await writeFile(file, stringify(baseConfig(dir)), { mode: 0o600 });
  const { code, output } = await checkConfig(file);
  t.equal(code, 0, output);
});
