import t from 'tap';
import { readFile, stat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { tempDir } from '../helpers/fixtures.js';

t.test('writes with mode, reports change only when content differs', async (t) => {
  const dir = tempDir(t, 'ea-aw-');
  const file = join(dir, 'sub', 'key.pem');
  t.equal(await writeFileAtomic(file, 'secret', { mode: 0o600 }), true);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.equal(await readFile(file, 'utf8'), 'secret');
  t.equal(await writeFileAtomic(file, 'secret', { mode: 0o600 }), false, 'same content is not rewritten');
  t.equal(await writeFileAtomic(file, 'other', { mode: 0o600 }), true);
  t.equal(await readFile(file, 'utf8'), 'other');
  t.same((await readdir(join(dir, 'sub'))).sort(), ['key.pem'], 'no temp files left behind');
});

t.test('fixes a wrong mode on an unchanged file', async (t) => {
  const dir = tempDir(t, 'ea-aw-');
  const file = join(dir, 'k');
  await writeFile(file, 'x', { mode: 0o644 });
  await writeFileAtomic(file, 'x', { mode: 0o600 });
  t.equal((await stat(file)).mode & 0o777, 0o600);
});
