/**
 * Test plumbing that every kind of test needs: where the repository is, a
 * scratch directory that is removed when the test ends, and the types both
 * test beds (netns.ts, nspawn.ts) share. One place, so a fix reaches all.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository's root (this file is test/helpers/fixtures.ts). */
export const REPO = resolve(import.meta.dirname, '..', '..');

/** The part of a tap `Test` that registers cleanup (also the root `t`). */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * A fresh directory under the system temp dir, named `<prefix>XXXXXX`, removed
 * with everything in it when `t` ends (pass or fail). Synchronous, so plain
 * (non-async) fixtures can use it too.
 */
export function tempDir(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** How a command a test bed ran ended. Never a rejection for a non-zero exit unless the caller asked for one. */
export interface ExecResult {
  /** Exit code; null when a signal ended the command (or it could not be started). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for messages. */
  output: string;
}

/** What every test bed is asked for; each bed adds its own knobs. */
export interface TestBedOptions {
  hosts: number;
  /** Hostnames in order (default: the bed's own scheme, h1… or host1…). */
  hostnames?: string[];
}

/** Initial member `n` of a made-up view on 10.9.0.0/24 (unit tests of the CA, admission and recovery). */
export function viewMember(n: number): { nodeId: string; name: string; address: string; peerApiPort: number; etcdPeerPort: number; etcdClientPort: number } {
  return { nodeId: String(n).repeat(32), name: `node${n}`, address: `10.9.0.${n}`, peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379 };
}
