// Diagnostic preload for measuring what an idle agent does (docs/benchmarks.md,
// "Where the idle agent's memory and CPU go"). Not used by the agent or tests.
//
//   PERF_COUNT_FILE=/tmp/n1.count node --import ./bench/tls-count-preload.mjs bin/etcd-agent.js run --config ...
//
// Wraps tls.connect and http2.connect, attributes each outgoing TLS connection
// to its caller from the stack (gRPC inside etcd3, the TLS probe of
// src/etcd/client.ts, the peer API client), and appends the counters,
// process.memoryUsage() and the active handles to PERF_COUNT_FILE every 10 s
// as one JSON line.
Error.stackTraceLimit = 30;
import tls from 'node:tls';
import http2 from 'node:http2';
import { syncBuiltinESMExports } from 'node:module';
import { writeFileSync } from 'node:fs';
const counts = {};
const bump = (k) => { counts[k] = (counts[k] ?? 0) + 1; };
const origTls = tls.connect;
tls.connect = function (...a) {
  const st = new Error().stack ?? '';
  const who = st.includes('grpc-js') ? 'tls.grpc' : st.includes('etcd/client.js') ? 'tls.probe' : st.includes('peer/') ? 'tls.peer' : 'tls.other';
  bump(who);
  if (who === 'tls.probe' || who === 'tls.peer') bump(who + ':' + st.split('\n').filter((l) => l.includes('/dist/') && !l.includes('etcd/client.js') && !l.includes('node_modules')).slice(0, 3).map((l) => l.trim().replace(/^at (async )?/, '').replace(/\(file:.*\/dist\//, '(').replace(/:\d+\)$/, ')')).join(' < '));
  if (who === 'tls.other' && process.env.PERF_STACKS) bump('other:' + st.split('\n').slice(2, 6).join('|').replace(/\s+/g, ' '));
  return origTls.apply(this, a);
};
const origH2 = http2.connect;
http2.connect = function (...a) { bump('http2.connect'); return origH2.apply(this, a); };
syncBuiltinESMExports();
const t0 = Date.now();
const file = process.env.PERF_COUNT_FILE;
if (file) setInterval(() => {
  writeFileSync(file, JSON.stringify({ t: Date.now() - t0, counts, mem: process.memoryUsage(), res: process.getActiveResourcesInfo().reduce((m, r) => (m[r] = (m[r] ?? 0) + 1, m), {}) }) + '\n', { flag: 'a' });
}, 10_000).unref();
