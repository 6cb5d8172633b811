import t, { type Test } from 'tap';
import { chmod, open, readFile, stat, readdir, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WriteMemo, writeFileAtomic } from '../../src/util/atomic-write.js';
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

/** Counts the reads of file contents through a FileHandle (what the compare uses) while `fn` runs. */
async function countingReads(t: Test, sample: string): Promise<() => number> {
  const handle = await open(sample, 'r');
  const proto = Object.getPrototypeOf(handle) as { readFile: (...args: unknown[]) => Promise<unknown> };
  await handle.close();
  const original = proto.readFile;
  let reads = 0;
  proto.readFile = function (this: unknown, ...args: unknown[]) {
    reads += 1;
    return original.apply(this, args);
  };
  t.teardown(() => {
    proto.readFile = original;
  });
  return () => reads;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('memo: an unchanged file is not read again; edited, chmodded or deleted files are repaired', async (t) => {
  const dir = tempDir(t, 'ea-aw-');
  const file = join(dir, 'etcd.conf');
  // The files were last changed long ago, as far as the memo's clock goes.
  const memo = new WriteMemo(() => Date.now() + 60_000);
  const reads = await countingReads(t, dir);
  const want = 'ETCD_NAME=n1\nETCD_DATA_DIR=/var/lib/etcd/x\n';

  t.equal(await writeFileAtomic(file, want, { memo }), true, 'first call writes');
  t.equal(await writeFileAtomic(file, want, { memo }), false, 'second call: same content, not rewritten');
  const afterCompare = reads();
  t.ok(afterCompare >= 1, 'the file was read and compared once');
  t.equal(await writeFileAtomic(file, want, { memo }), false);
  t.equal(await writeFileAtomic(file, want, { memo }), false);
  t.equal(reads(), afterCompare, 'unchanged file and content: no further read');

  // Edited in place, same size, same inode: only mtime/ctime differ. Past the timestamp granule first.
  await settle(50);
  const before = await stat(file);
  const edited = want.replace('n1', 'n9');
  t.equal(edited.length, want.length);
  await writeFile(file, edited);
  const after = await stat(file);
  t.equal(after.size, before.size, 'same size');
  t.equal(after.ino, before.ino, 'same inode');
  t.equal(await writeFileAtomic(file, want, { memo }), true, 'edited file is repaired');
  t.equal(await readFile(file, 'utf8'), want);

  // Edited in place with the old mtime put back (a whole second, exactly restorable): ctime still tells.
  await utimes(file, 1_700_000_000, 1_700_000_000);
  t.equal(await writeFileAtomic(file, want, { memo }), false, 'verified again');
  await settle(50);
  await writeFile(file, edited);
  await utimes(file, 1_700_000_000, 1_700_000_000);
  t.equal((await stat(file)).mtimeMs, 1_700_000_000_000, 'mtime restored');
  t.equal(await writeFileAtomic(file, want, { memo }), true, 'edit behind a restored mtime is repaired');
  t.equal(await readFile(file, 'utf8'), want);

  // Deleted: rewritten.
  t.equal(await writeFileAtomic(file, want, { memo }), false);
  await unlink(file);
  t.equal(await writeFileAtomic(file, want, { memo }), true, 'deleted file is rewritten');
  t.equal(await readFile(file, 'utf8'), want);

  // Mode changed: corrected.
  t.equal(await writeFileAtomic(file, want, { memo }), false);
  await chmod(file, 0o600);
  t.equal(await writeFileAtomic(file, want, { memo }), false, 'same content, mode only: not rewritten');
  t.equal((await stat(file)).mode & 0o777, 0o644, 'mode corrected');

  // New content to write: written at once.
  const readsBefore = reads();
  t.equal(await writeFileAtomic(file, want, { memo }), false);
  t.equal(await writeFileAtomic(file, `${want}X=1\n`, { memo }), true, 'new content is written');
  t.equal(await readFile(file, 'utf8'), `${want}X=1\n`);
  t.ok(reads() > readsBefore);
  t.same((await readdir(dir)).sort(), ['etcd.conf'], 'no temp files left behind');
});

t.test('memo: a file changed within the timestamp granule is read every time', async (t) => {
  const dir = tempDir(t, 'ea-aw-');
  const file = join(dir, 'unit');
  const memo = new WriteMemo();
  const reads = await countingReads(t, dir);
  t.equal(await writeFileAtomic(file, 'x\n', { memo }), true);
  const start = reads();
  t.equal(await writeFileAtomic(file, 'x\n', { memo }), false);
  t.equal(await writeFileAtomic(file, 'x\n', { memo }), false);
  t.equal(reads() - start, 2, 'just written: each call compares the contents');
});
