// The npm modules that stay in node_modules at run time: everything else is
// bundled into dist/bundle/ (scripts/bundle.mjs). sd-notify is a native addon
// (a .node file esbuild cannot bundle), so it and the modules it requires ship
// as installed.
//
// As a command: node scripts/runtime-modules.mjs DIR
// prints the node_modules paths (relative to DIR, one per line) of the
// external modules and everything they depend on, as DIR/package-lock.json
// resolves them. packaging/build.sh prunes the package's node_modules to this
// list; test/helpers/nspawn.ts copies the same list into test hosts.
import { readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Modules esbuild leaves out of the bundle. */
export const EXTERNAL_MODULES = ['sd-notify'];

/** Lock paths (node_modules/...) of `names` and their production dependencies. */
export function runtimeClosure(lockDir, names = EXTERNAL_MODULES) {
  const lock = JSON.parse(readFileSync(join(lockDir, 'package-lock.json'), 'utf8'));
  const packages = lock.packages ?? {};
  // Node's resolution: from a package's own node_modules up to the root's.
  const resolveFrom = (fromPath, name) => {
    let base = fromPath;
    for (;;) {
      const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
      if (packages[candidate] !== undefined) return candidate;
      if (base === '') return undefined;
      const up = base.lastIndexOf('/node_modules/');
      base = up < 0 ? '' : base.slice(0, up);
    }
  };
  const out = new Set();
  const queue = names.map((n) => {
    const p = resolveFrom('', n);
    if (p === undefined) throw new Error(`${n} is not in ${lockDir}/package-lock.json`);
    return p;
  });
  while (queue.length > 0) {
    const p = queue.shift();
    if (out.has(p)) continue;
    out.add(p);
    for (const dep of Object.keys(packages[p].dependencies ?? {})) {
      const d = resolveFrom(p, dep);
      if (d === undefined) throw new Error(`${p} needs ${dep}, which ${lockDir}/package-lock.json does not resolve`);
      queue.push(d);
    }
  }
  return [...out].sort((a, b) => a.localeCompare(b)).map((p) => posix.normalize(p));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (dir === undefined) {
    console.error('usage: node scripts/runtime-modules.mjs DIR   (DIR holds package-lock.json)');
    process.exit(2);
  }
  process.stdout.write(runtimeClosure(resolve(dir)).join('\n') + '\n');
}
