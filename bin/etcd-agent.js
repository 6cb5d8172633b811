#!/usr/bin/env node
// Thin launcher: the CLI lives in the bundled build (npm run build: tsc, then
// scripts/bundle.mjs into dist/bundle/).
// grpc-js (inside etcd3) sets TLS SNI to an IP address; Node warns once per
// process (DEP0123). It is harmless and would only confuse operators reading logs.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning, ...rest) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? rest[0].code : rest[1];
  if (code === 'DEP0123') return;
  emitWarning(warning, ...rest);
};

const { main } = await import('../dist/bundle/etcd-agent.js');

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`etcd-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
