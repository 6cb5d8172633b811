import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskFull, FileNotWritable, writeFileAtomic, writeProblem } from '../../src/util/atomic-write.js';
import { describeError } from '../../src/util/errors.js';
import { fill, rejection, tmpfs } from '../helpers/tmpfs.js';

/**
 * writeFileAtomic on a filesystem that refuses the write, for real: a tiny
 * tmpfs filled up, or remounted read-only (test/helpers/tmpfs.ts; root only,
 * skipped loudly without it).
 */

t.test('a full disk: EA_DISK_FULL names the file and its directory, and the old file is unchanged', async (t) => {
  const dir = tmpfs(t, 'size=64k,mode=0755');
  if (dir === undefined) return;
  const pki = join(dir, 'pki');
  const file = join(pki, 'server.crt');
  await writeFileAtomic(file, 'the old certificate\n', { mode: 0o644 });
  t.ok((await fill(join(dir, 'filler'))) > 0, 'the tmpfs is full');

  const err = await rejection(writeFileAtomic(file, 'the renewed certificate\n'.repeat(200), { mode: 0o644 }));
  t.equal(err.code, DiskFull.code);
  t.equal(err.code, 'EA_DISK_FULL');
  t.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC', 'the errno error is the cause');
  t.match(err.message, `cannot write ${file}: the filesystem holding ${pki} is full (ENOSPC: no space left on device`, 'names the file, its directory and the errno text');
  t.match(err.message, `the existing ${file} was left unchanged and no temp file was left`);
  t.match(err.message, `free space on the filesystem holding ${pki} (\`df -h ${pki}\`); the agent retries by itself`);
  t.equal(describeError(err), `EA_DISK_FULL: ${err.message}`, 'what /status shows as the renewal lastError');
  t.comment(describeError(err));

  t.equal(await readFile(file, 'utf8'), 'the old certificate\n', 'the old file is unchanged');
  t.same(await readdir(pki), ['server.crt'], 'no temp file left');

  const fresh = join(pki, 'server.key');
  const err2 = await rejection(writeFileAtomic(fresh, 'a key\n', { mode: 0o600 }));
  t.equal(err2.code, 'EA_DISK_FULL');
  t.match(err2.message, `${fresh} was not created and no temp file was left`, 'a new file: says it was not created');
  t.same(await readdir(pki), ['server.crt'], 'no temp file and no new file');

  await rm(join(dir, 'filler'));
  t.equal(await writeFileAtomic(file, 'the renewed certificate\n'), true, 'once space is freed the same write works');
  t.equal(await readFile(file, 'utf8'), 'the renewed certificate\n');
});

t.test('a read-only filesystem: EA_FILE_NOT_WRITABLE, the old file is unchanged', async (t) => {
  const dir = tmpfs(t, 'size=64k,mode=0755');
  if (dir === undefined) return;
  const file = join(dir, 'etcd.conf');
  await writeFileAtomic(file, 'ETCD_NAME=n1\n');
  const r = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
  t.equal(r.status, 0, `remount read-only: ${r.stderr}`);

  const err = await rejection(writeFileAtomic(file, 'ETCD_NAME=n2\n'));
  t.equal(err.code, FileNotWritable.code);
  t.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'EROFS');
  t.match(err.message, `cannot write ${file}: the filesystem holding ${dir} is mounted read-only (EROFS: read-only file system`);
  t.match(err.message, `the existing ${file} was left unchanged and no temp file was left — remount the filesystem holding ${dir} read-write`);
  t.equal(await readFile(file, 'utf8'), 'ETCD_NAME=n1\n');
  t.same(await readdir(dir), ['etcd.conf']);
});

t.test('which errno is which', async (t) => {
  const errno = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${message}, write`), { code });
  t.match(writeProblem(errno('EDQUOT', 'disk quota exceeded'), '/d'), { code: 'EA_DISK_FULL', why: 'the disk quota on the filesystem holding /d is used up (EDQUOT: disk quota exceeded, write)' });
  t.match(writeProblem(errno('EACCES', 'permission denied'), '/d'), { code: 'EA_FILE_NOT_WRITABLE', why: 'writing in /d was refused (EACCES: permission denied, write)' });
  t.match(writeProblem(errno('EPERM', 'operation not permitted'), '/d'), { code: 'EA_FILE_NOT_WRITABLE' });
  t.equal(writeProblem(errno('EIO', 'i/o error'), '/d'), undefined);
  t.equal(writeProblem('ENOSPC', '/d'), undefined, 'only errors');

});
