import t from 'tap';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { snapshotFailure, writeVerifiedSnapshot } from '../../src/agent/snapshots/take.js';
import { rejection, tmpfs, useUpInodes } from '../helpers/tmpfs.js';

/** A snapshot whose directory is full names the snapshots dir and says to free space (root only: a real tmpfs). */

t.test('a snapshot on a full disk: EA_SNAPSHOT_FAILED names the snapshots dir and says to free space', async (t) => {
  // No inode left: the snapshot's temp file cannot even be created, so etcd is never asked.
  const dir = tmpfs(t, 'size=64k,nr_inodes=16,mode=0755');
  if (dir === undefined) return;
  await writeFile(join(dir, 'older.db'), 'an older snapshot');
  await useUpInodes(dir);
  const before = (await readdir(dir)).sort();
  const tls = { caPem: '', certPem: '', keyPem: '' };
  const err = await rejection(
    writeVerifiedSnapshot(
      { endpoint: 'https://127.0.0.1:1', tls, timeoutMs: 1000 },
      { dir, tempName: '.snap.tmp', finalName: () => 'new.db', what: 'snapshot (scheduled)', retries: true },
    ),
  );
  t.equal(err.code, 'EA_SNAPSHOT_FAILED');
  t.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC');
  t.match(
    err.message,
    `snapshot (scheduled) failed: writing ${join(dir, '.snap.tmp')}: the filesystem holding ${dir} is full (ENOSPC: no space left on device`,
  );
  t.match(err.message, '; no partial file was left and no older snapshot was removed — ', 'the existing message contract holds');
  t.match(err.message, `free space on the filesystem holding ${dir} (\`df -h ${dir}\`); the agent retries by itself`);
  t.match(err.message, /ENOSPC|no space/i, 'the integration test\'s pattern still matches');
  t.same((await readdir(dir)).sort(), before, 'nothing added or removed');
  t.equal(await readFile(join(dir, 'older.db'), 'utf8'), 'an older snapshot');
});

t.test('what other failures say, and a command is not retried', async (t) => {
  const errno = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${message}, write`), { code });
  const cmd = snapshotFailure(errno('ENOSPC', 'no space left on device'), { dir: '/s', what: 'snapshot save' }, '/s/.x.partial');
  t.match(cmd.message, 'free space on the filesystem holding /s (`df -h /s`); then run the command again', 'a command is not retried');
  const other = snapshotFailure(new Error('the stream ended early'), { dir: '/s', what: 'snapshot save' }, '/s/.x.partial');
  t.equal(other.message, 'snapshot save failed: the stream ended early; no partial file was left and no older snapshot was removed', 'other failures: as before');
});
