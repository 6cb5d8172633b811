/**
 * Where formation time goes: three loopback agents started together (the
 * process service manager, seeds), and each one's phase changes from its
 * own log, in ms from the common start. For finding the waits (ticks,
 * retries) in the path from start to formed; `npm run bench` gives the
 * figures to compare with bare etcd.
 *
 *   npm run build && TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/formation-timeline.ts [--runs 1]
 * Uses 127.0.151.0/24 and a temporary directory; stops everything it started.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateToken } from '../src/pki/index.js';
import { NodeSet } from '../test/helpers/agents.js';
import { shippedAgentEnvironment } from './unit-env.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '1' } } });

interface LogLine {
  time: string;
  component?: string;
  phase?: string;
  msg?: string;
  reason?: string;
}

for (let run = 0; run < Number(args.runs); run++) {
  const set = new NodeSet({ subnet: 151, count: 3, token: generateToken(), cluster: 'timeline' });
  try {
    await set.init();
    const started = Date.now();
    for (const n of set.nodes) set.start(n, { env: shippedAgentEnvironment() });
    await set.waitFormed(set.nodes, 120_000);
    process.stdout.write(`run ${run + 1}: all formed and ready (as polled every 500 ms) after ${Date.now() - started} ms\n`);
    for (const n of set.nodes) {
      const lines = readFileSync(n.logFile, 'utf8').split('\n').filter((l) => l.startsWith('{'));
      let last = '';
      for (const l of lines) {
        const j = JSON.parse(l) as LogLine;
        const at = Date.parse(j.time) - started;
        const what = j.msg === 'phase' ? `phase ${j.phase}: ${j.reason ?? ''}` : j.msg === 'reason' ? `  · ${j.reason ?? ''}` : `  ${j.component ?? ''}: ${j.msg ?? ''}`;
        if (what === last) continue;
        last = what;
        process.stdout.write(`  ${n.name} ${String(at).padStart(6)} ms ${what.slice(0, 160)}\n`);
      }
    }
  } finally {
    await set.cleanup(process.env.KEEP_TEST_DIRS === "1");
  }
}
