/**
 * `npm run trials`: randomized fault trials against real agents and real
 * etcd, one fault per trial, invariants checked after each (docs/reliability.md).
 *
 *   npm run build && TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import trials/main.ts \
 *     [--kinds kill-bootstrap,partition-bootstrap,kill-formed,kill-join,kill-replace,kill-renew,kill-snapshot,pause,pause-spare,skew,disk-full,partition-join] [--trials N] [--seed S] \
 *     [--out FILE] [--doc docs/reliability.md] [--subnet 141] [--max-minutes M]
 *
 * Trial k of a kind uses seed S+k; `--kinds K --seed <that seed> --trials 1`
 * replays its random choices. Records are appended to --out (JSON lines); the
 * summary written to --doc covers every record in --out.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { netnsUnavailable } from '../test/helpers/netns.js';
import { runLoopbackTrial, type LoopbackOptions } from './kill.js';
import { runReplaceTrial } from './replace.js';
import { runRenewTrial } from './renew.js';
import { runSnapshotTrial } from './snapshot.js';
import { runSkewTrial } from './skew.js';
import { runDiskFullTrial } from './disk-full.js';
import { runPauseSpareTrial } from './pause-spare.js';
import { PartitionBed } from './partition.js';
import { PartitionJoinBed } from './partition-join.js';
import { FAULT_KINDS, violations, type FaultKind, type TrialRecord } from './record.js';
import { failed, readRecords, summaryTable, writeSummary } from './summary.js';

const { values: args } = parseArgs({
  options: {
    kinds: { type: 'string', default: FAULT_KINDS.join(',') },
    trials: { type: 'string', default: '5' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000_000) },
    out: { type: 'string', default: 'trials-results.jsonl' },
    doc: { type: 'string' },
    subnet: { type: 'string', default: '141' },
    /** Per kind: no new trial starts after this many minutes (the running one finishes). */
    'max-minutes': { type: 'string' },
  },
});

/** The loopback /24s this harness may use (127.0.X.0/24). */
const SUBNETS = [141, 142, 143, 144, 145];

function parseKinds(text: string): FaultKind[] {
  return text.split(',').map((k) => {
    const kind = FAULT_KINDS.find((f) => f === k.trim());
    if (!kind) throw new Error(`unknown fault kind ${k}; known: ${FAULT_KINDS.join(', ')}`);
    return kind;
  });
}

function line(r: TrialRecord): string {
  const v = violations(r);
  const what = r.error ? `ERROR ${r.error.split('\n')[0]}` : v.length > 0 ? `VIOLATIONS ${v.map((i) => `${i.name}: ${i.detail}`).join(' | ')}` : 'ok';
  return `${r.kind} seed ${r.seed}: ${what}; fault ${JSON.stringify(r.fault)}; recovery ${r.recoveryMs ?? '–'} ms; trial ${(r.trialMs / 1000).toFixed(1)} s`;
}

/** One loopback trial of `kind` (every kind but partition-bootstrap, whose bed is shared by a run). */
function runOne(kind: Exclude<FaultKind, 'partition-bootstrap' | 'partition-join'>, o: LoopbackOptions): Promise<TrialRecord> {
  switch (kind) {
    case 'kill-replace':
      return runReplaceTrial(o);
    case 'kill-renew':
      return runRenewTrial(o);
    case 'kill-snapshot':
      return runSnapshotTrial(o);
    case 'skew':
      return runSkewTrial(o);
    case 'disk-full':
      return runDiskFullTrial(o);
    case 'pause-spare':
      return runPauseSpareTrial(o);
    default:
      return runLoopbackTrial(kind, o);
  }
}

async function main(): Promise<number> {
  const kinds = parseKinds(args.kinds);
  const trials = Number(args.trials);
  const seed = Number(args.seed);
  const subnet = Number(args.subnet);
  if (!SUBNETS.includes(subnet)) throw new Error(`--subnet must be one of ${SUBNETS.join(', ')}`);
  const records: TrialRecord[] = [];
  const keep = (r: TrialRecord) => {
    records.push(r);
    appendFileSync(args.out, `${JSON.stringify(r)}\n`);
    process.stdout.write(`${line(r)}\n`);
  };
  const maxMs = args['max-minutes'] ? Number(args['max-minutes']) * 60_000 : Infinity;
  for (const kind of kinds) {
    const kindStarted = Date.now();
    const more = (k: number) => k < trials && Date.now() - kindStarted < maxMs;
    if (kind === 'partition-bootstrap' || kind === 'partition-join') {
      const why = netnsUnavailable();
      if (why) {
        process.stderr.write(`!!! SKIPPED ${kind}: ${why} !!!\n`);
        continue;
      }
      const bed = kind === 'partition-join' ? await PartitionJoinBed.create() : await PartitionBed.create();
      try {
        for (let k = 0; more(k); k++) keep(await bed.runTrial(seed + k));
      } finally {
        await bed.destroy();
      }
    } else {
      for (let k = 0; more(k); k++) keep(await runOne(kind, { seed: seed + k, subnet }));
    }
  }
  process.stdout.write(`\nthis run:\n${summaryTable(records)}\n`);
  if (args.doc) {
    const all = readRecords(args.out);
    writeSummary(args.doc, all, `Figures from ${all.length} trials in \`${args.out}\` (table written ${new Date().toISOString().slice(0, 16)}Z; each record has its seed).`);
    process.stdout.write(`summary of ${all.length} records in ${args.out} written to ${args.doc}\n`);
  }
  return records.some(failed) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
