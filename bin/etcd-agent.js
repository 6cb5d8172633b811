#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled sources (npm run build).
import { main } from '../dist/agent/cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`etcd-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
