/**
 * A real full (or read-only) filesystem for unit tests: a tiny tmpfs mounted
 * on a fresh temp dir, unmounted when the test ends. Mounting needs root;
 * without it the test is skipped, loudly (as skipUnlessRoot does for netns).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { appendFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { AgentError } from '../../src/util/errors.js';

function skipLoudly(t: Test, why: string): void {
  const msg = `!!! SKIPPED: real full-disk writes on a tmpfs — ${why} !!!`;
  process.stderr.write(`${msg}\n`);
  t.comment(msg);
  t.pass('full-disk writes', { skip: msg });
}

/** A tmpfs with `options` mounted on a fresh temp dir, unmounted and removed when `t` ends; undefined (and skipped) without root. */
export function tmpfs(t: Test, options: string): string | undefined {
  if (process.getuid?.() !== 0) {
    skipLoudly(t, 'mounting a tmpfs needs root');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ea-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    skipLoudly(t, `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`);
    void rm(dir, { recursive: true, force: true });
    return undefined;
  }
  t.teardown(async () => {
    const u = spawnSync('umount', [dir], { encoding: 'utf8' });
    if (u.status !== 0) spawnSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Appends to `file` until the filesystem refuses a single byte; returns the bytes written. */
export async function fill(file: string): Promise<number> {
  let bytes = 0;
  for (const size of [4096, 1]) {
    const chunk = Buffer.alloc(size, 0x61);
    for (;;) {
      try {
        await appendFile(file, chunk);
        bytes += size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
  return bytes;
}

/** Creates empty files until the filesystem has no inode left. */
export async function useUpInodes(dir: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    try {
      await writeFile(join(dir, `inode-${i}`), '');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw err;
    }
  }
  throw new Error('the tmpfs never ran out of inodes');
}

/** The AgentError `p` rejects with; throws when it resolves or rejects with something else. */
export async function rejection(p: Promise<unknown>): Promise<AgentError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error('the write did not fail');
}
