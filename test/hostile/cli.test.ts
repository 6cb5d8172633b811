/**
 * Catalogue: hostile command lines through the real CLI entry (in process,
 * empty environment). Exit 2 with a message that names the problem; nothing
 * is written.
 */
import t from 'tap';
import { main } from '../../src/agent/cli.js';
import { generateToken } from '../../src/pki/token.js';
import { tempDir } from '../helpers/fixtures.js';
import { snapshotTree, treeChanges } from './catalogue.js';
import { CLI_CASES } from './cli-cases.js';

const TOKEN = generateToken();

t.test(`${CLI_CASES.length} hostile command lines exit 2 and write nothing`, async (t) => {
  for (const c of CLI_CASES) {
    await t.test(c.name, async (t) => {
      const root = tempDir(t, 'ea-hostile-cli-');
      const args = c.args.map((a) => a.replaceAll('{root}', root).replaceAll('{token}', TOKEN));
      const before = await snapshotTree(root);
      let output = '';
      const write = (s: string): boolean => {
        output += s;
        return true;
      };
      const code = await main(args, { stdout: { write }, stderr: { write }, env: {}, cwd: root });
      t.equal(code, 2, `exit 2 for ${JSON.stringify(c.args)}: ${output.slice(0, 300)}`);
      for (const s of c.says) t.ok(output.includes(s), `message names ${JSON.stringify(s)}: ${output.trim().slice(0, 300)}`);
      t.notOk(output.includes(TOKEN), 'the token is never printed');
      t.same(treeChanges(before, await snapshotTree(root)), [], 'nothing written');
    });
  }
});
