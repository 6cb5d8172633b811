import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandArgs, type CliIo } from './args.js';

let cached: string | undefined;

/**
 * The package version: the nearest package.json named etcd-agent above this
 * module, so it works from src/ (tap) and dist/ (the built CLI) alike.
 */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'etcd-agent' && typeof pkg.version === 'string') {
        cached = pkg.version;
        return cached;
      }
    } catch {
      // no package.json here: keep climbing
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return 'unknown';
}

export async function versionCommand(args: string[], io: CliIo): Promise<number> {
  parseCommandArgs('version', args, {});
  io.stdout.write(`etcd-agent ${packageVersion()}\n`);
  return 0;
}
