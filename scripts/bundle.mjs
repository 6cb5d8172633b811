// Bundles the compiled CLI (dist/agent/cli.js, from tsc) and every dependency
// except sd-notify's native addon into dist/bundle/ with esbuild.
//
// Why (issue 14, docs/benchmarks.md "The bundled build and native
// signatures"): one file instead of
// ~1,000 CommonJS modules means no module resolution at start-up and far less
// source text for V8 to keep; the installed package drops the dependencies'
// node_modules (≈8 MB of mostly unused files).
//
// What it keeps right:
// - etcd3 (grpc-js, protobufjs) stays a separate chunk loaded on the first
//   etcd call, as src/etcd/etcd3-module.ts intends; so does bonjour-service.
// - etcd3 reads its .proto files at run time from `${__dirname}/../proto`;
//   they are copied to dist/bundle/proto/ and the path is rewritten to them.
// - sd-notify is a native addon: it stays in node_modules (see
//   scripts/runtime-modules.mjs).
// - Licences: every bundled package's licence text goes into
//   dist/bundle/THIRD-PARTY-LICENSES, since the packages' own files no longer ship.
//
// Usage: node scripts/bundle.mjs [--entry FILE] [--outdir DIR] [--metafile FILE]
//   --metafile: esbuild's account of what went into the bundle (default
//   dist/bundle-meta.json; packaging/gen/copyright.ts reads it).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXTERNAL_MODULES } from './runtime-modules.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? resolve(args[i + 1]) : fallback;
};
const outdir = opt('--outdir', join(repo, 'dist', 'bundle'));
const entry = opt('--entry', join(repo, 'dist', 'agent', 'cli.js'));
const metafile = opt('--metafile', join(repo, 'dist', 'bundle-meta.json'));

if (!existsSync(entry)) {
  console.error(`bundle: ${entry} does not exist; run tsc first (npm run build does both)`);
  process.exit(1);
}

// The one run-time file access by path inside a dependency that the agent
// reaches (`grep __dirname` over the bundle): etcd3's proto loader. grpc-js's
// channelz and ORCA protos and pino's transports also use __dirname; the
// agent uses none of them, and they would fail at once (ReferenceError).
const ETCD3_PROTO = '`${__dirname}/../proto/rpc.proto`';
const etcd3ProtoPath = {
  name: 'etcd3-proto-path',
  setup(b) {
    b.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (a) => {
      const src = readFileSync(a.path, 'utf8');
      if (!src.includes(ETCD3_PROTO)) {
        throw new Error(`${a.path} no longer loads ${ETCD3_PROTO}; update scripts/bundle.mjs for this etcd3 version`);
      }
      // Not import.meta here: esbuild would then take this CommonJS file for
      // ESM and drop its exports. The banner defines the bundle's directory.
      return { contents: src.replace(ETCD3_PROTO, '`${__etcdAgentBundleDir}/proto/rpc.proto`'), loader: 'js' };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  // Input paths in the metafile are relative to the repository (node_modules/...).
  absWorkingDir: repo,
  entryPoints: { 'etcd-agent': entry },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // Error classes and controllers are named in logs and /status.
  keepNames: true,
  external: EXTERNAL_MODULES,
  // CommonJS dependencies call require() for Node's built-ins; etcd3 finds
  // its proto files in the bundle's directory (see the plugin above).
  banner: {
    js: [
      "import { createRequire as __etcdAgentRequire } from 'node:module';",
      "import { fileURLToPath as __etcdAgentPath } from 'node:url';",
      'const require = __etcdAgentRequire(import.meta.url);',
      "const __etcdAgentBundleDir = __etcdAgentPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  plugins: [etcd3ProtoPath],
});

const protoSrc = join(repo, 'node_modules', 'etcd3', 'proto');
mkdirSync(join(outdir, 'proto'), { recursive: true });
for (const f of readdirSync(protoSrc).filter((n) => n.endsWith('.proto'))) copyFileSync(join(protoSrc, f), join(outdir, 'proto', f));

// Worked out once, here: the licence file below and the package's copyright
// file (packaging/gen/copyright.ts reads `etcdAgentPackages` from the metafile).
const packages = packageDirs(Object.keys(result.metafile.inputs));
writeFileSync(join(outdir, 'THIRD-PARTY-LICENSES'), licences(packages));
writeFileSync(metafile, JSON.stringify({ ...result.metafile, etcdAgentPackages: packages }));

/** The package directories ("node_modules/a", "node_modules/@s/b", nested ones too) that have a file in the bundle, sorted. */
function packageDirs(inputs) {
  const dirs = new Set();
  for (const input of inputs) {
    const parts = input.split(/[\\/]/);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0) continue;
    const n = parts[at + 1]?.startsWith('@') ? 3 : 2;
    dirs.add(parts.slice(0, at + n).join('/'));
  }
  return [...dirs].sort();
}

/** The licence text of every package that has a file in the bundle. */
function licences(dirs) {
  const out = ['Third-party software bundled into etcd-agent (dist/bundle/etcd-agent.js and its chunks).', ''];
  for (const dir of dirs) {
    const abs = resolve(repo, dir);
    const pkg = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8'));
    const file = readdirSync(abs).find((f) => /^(licen[cs]e|copying)/i.test(f));
    out.push('='.repeat(78), `${pkg.name} ${pkg.version} (${pkg.license ?? 'see text'}) ${relative(repo, abs)}`, '-'.repeat(78));
    if (file) out.push(readFileSync(join(abs, file), 'utf8').trim());
    else if (pkg.license) out.push(`License: ${pkg.license} (the package ships no licence file)`);
    else throw new Error(`${pkg.name} has neither a licence file nor a license field; check it before bundling`);
    out.push('');
  }
  return out.join('\n') + '\n';
}
