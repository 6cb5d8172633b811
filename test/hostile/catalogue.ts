/**
 * The bad-input catalogue (issue 13): every surface where the agent reads
 * something it did not write — config files, environment overrides, CLI
 * arguments, the peer API, CSRs, mDNS packets, files on disk — with inputs
 * that must be refused. Each surface has a table (one line per case) and a
 * runner that checks the same three things for every row: the input is
 * refused with a message naming the problem, nothing crashes (the agent keeps
 * running where there is an agent), and nothing on disk changes.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/agent/cli.js';

export type Surface = 'config' | 'env' | 'cli' | 'peer-api' | 'csr' | 'mdns' | 'disk';

/** Every file and directory under `dir` with its bytes and mode: equal snapshots mean nothing changed. */
export async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      const mode = ((await stat(p)).mode & 0o7777).toString(8);
      if (e.isDirectory()) {
        out.set(`${p}/`, mode);
        await walk(p);
      } else if (e.isFile()) {
        out.set(p, `${mode} ${(await readFile(p)).toString('base64')}`);
      } else {
        out.set(p, `${mode} (special)`);
      }
    }
  };
  await walk(dir);
  return out;
}

/** Names of entries that differ between two snapshots (empty: nothing changed). */
export function treeChanges(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [k, v] of before) if (after.get(k) !== v) changed.push(after.has(k) ? `changed ${k}` : `removed ${k}`);
  for (const k of after.keys()) if (!before.has(k)) changed.push(`added ${k}`);
  return changed;
}

/** A valid config (with the token in `<dir>/token`) that each row breaks in one place. */
export function baseConfig(dir: string): Record<string, Record<string, unknown>> {
  return {
    cluster: { name: 'prod', size: 3, tokenFile: join(dir, 'token') },
    node: { name: 'n1', advertiseAddress: '127.0.0.11' },
    discovery: { mdns: false, seeds: ['127.0.0.12'] },
  };
}

/** Applies `set` to a copy of the base: `a.b` sets a key in section a, `a` replaces a section or top-level key. */
export function withChanges(base: Record<string, Record<string, unknown>>, set: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) out[k] = { ...v };
  for (const [path, value] of Object.entries(set)) {
    const [section, key] = path.split('.') as [string, string | undefined];
    if (key === undefined) {
      if (value === undefined) delete out[section];
      else out[section] = value;
      continue;
    }
    const target = (out[section] ??= {}) as Record<string, unknown>;
    if (value === undefined) delete target[key];
    else target[key] = value;
  }
  return out;
}

/** `etcd-agent check-config --config PATH` in process, with only `env` as the environment. */
export async function checkConfig(path: string | undefined, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  let output = '';
  const write = (s: string): boolean => {
    output += s;
    return true;
  };
  const code = await main(['check-config', ...(path === undefined ? [] : ['--config', path])], { stdout: { write }, stderr: { write }, env, cwd: '/' });
  return { code, output };
}

