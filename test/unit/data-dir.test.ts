/**
 * The data dir as the repair paths see it (absent / empty / etcd data) and
 * moving it aside: renamed beside itself, or — for a mount point, which
 * cannot be renamed — its entries moved into a directory inside it. Nothing
 * is deleted.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectDataDir, isInertEntry, moveDataDirAside } from '../../src/agent/files/data-dir.js';

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ea-data-dir-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function withMember(dir: string): Promise<void> {
  await mkdir(join(dir, 'member', 'wal'), { recursive: true });
  await writeFile(join(dir, 'member', 'wal', '0.wal'), 'raft log');
}

const NOW = new Date('2024-05-01T10:00:00.123Z');

t.test('inspect', async (t) => {
  const root = await scratch(t);
  const dir = join(root, 'data');
  t.same(await inspectDataDir(dir), { kind: 'absent' });
  await mkdir(dir);
  t.same(await inspectDataDir(dir), { kind: 'empty', entries: [] });
  await mkdir(join(dir, 'lost+found'));
  t.same(await inspectDataDir(dir), { kind: 'empty', entries: ['lost+found'] }, 'a fresh filesystem is empty for etcd');
  await withMember(dir);
  t.same(await inspectDataDir(dir), { kind: 'data', entries: ['lost+found', 'member'] });
  await writeFile(join(root, 'file'), 'x');
  t.same(await inspectDataDir(join(root, 'file')), { kind: 'not-a-directory' });
  t.ok(isInertEntry('etcd-agent-aside-wiped-x'));
  t.notOk(isInertEntry('member'));
});

t.test('moved aside beside itself, never deleted', async (t) => {
  const root = await scratch(t);
  const dir = join(root, 'data');
  t.equal(await moveDataDirAside(dir, 'removed', NOW), undefined, 'absent: nothing to move');
  await mkdir(join(dir, 'lost+found'), { recursive: true });
  t.equal(await moveDataDirAside(dir, 'removed', NOW), undefined, 'nothing but lost+found: nothing to move');
  await withMember(dir);
  const aside = await moveDataDirAside(dir, 'removed', NOW);
  t.equal(aside, join(root, 'data.aside-removed-2024-05-01T10-00-00-123Z'));
  t.same(await inspectDataDir(dir), { kind: 'absent' }, 'the data dir is free');
  t.equal(await readFile(join(aside!, 'member', 'wal', '0.wal'), 'utf8'), 'raft log', 'the data is intact where it went');
});

t.test('a mount point: its entries move into a directory inside it', { skip: process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false }, async (t) => {
  const root = await scratch(t);
  const dir = join(root, 'data');
  await mkdir(dir);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
  t.equal(mounted.status, 0, `a tmpfs mounted on the data dir (${String(mounted.stderr)})`);
  t.teardown(() => {
    spawnSync('umount', [dir]);
  });
  await withMember(dir);
  await mkdir(join(dir, 'lost+found'));
  const aside = await moveDataDirAside(dir, 'wiped', NOW);
  t.equal(aside, join(dir, 'etcd-agent-aside-wiped-2024-05-01T10-00-00-123Z'));
  t.same((await readdir(dir)).sort(), ['etcd-agent-aside-wiped-2024-05-01T10-00-00-123Z', 'lost+found'], 'lost+found stays, member moved');
  t.equal((await inspectDataDir(dir)).kind, 'empty', 'no etcd data left in the data dir');
  t.equal(await readFile(join(aside!, 'member', 'wal', '0.wal'), 'utf8'), 'raft log', 'the data is intact where it went');
  t.equal(await moveDataDirAside(dir, 'wiped', NOW), undefined, 'moving again: nothing left to move');
});
