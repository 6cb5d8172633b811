/**
 * The frame of the trials with a spare waiting (kill-replace, pause-spare):
 * three loopback voters with membership.deadAfter 10 s, formed; a writer; a
 * fourth agent that joins as a spare; then the trial's fault and checks;
 * teardown whatever happened.
 */
import { appendFile } from 'node:fs/promises';
import { generateToken } from '../src/pki/index.js';
import type { StatusReport } from '../src/agent/status/model.js';
import { NodeSet, type TestNode } from '../test/helpers/agents.js';
import type { WriterReport } from '../test/helpers/writer.js';
import type { TrialNode } from './access.js';
import { DEAD_AFTER_S, FORM_BOUND_MS, closeTrial, startSetWriter, type LoopbackOptions } from './kill.js';
import { loopbackNode } from './loopback.js';
import type { FaultKind, InvariantResult, TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';

/** Bound on the spare reporting phase `spare` after it starts. */
const SPARE_BOUND_MS = 60_000;

export interface SpareBed {
  set: NodeSet;
  /** The fourth node, a spare when the fault begins. */
  spare: TestNode;
  rng: Rng;
  trialNode(n: TestNode): TrialNode;
}

/** Waits (bounded) until `ok` holds for the node's /status; throws with the last phase and reason. */
export async function waitStatus(set: NodeSet, n: TestNode, what: string, ok: (s: StatusReport) => boolean, boundMs: number): Promise<StatusReport> {
  const deadline = Date.now() + boundMs;
  let last: StatusReport | undefined;
  while (Date.now() < deadline) {
    last = await set.status(n).catch(() => undefined);
    if (last && ok(last)) return last;
    await sleep(250);
  }
  throw new Error(`${n.name} not ${what} within ${boundMs} ms: ${last ? `${last.phase} (${last.reason})` : 'no status'}`);
}

/**
 * Runs `body` on a formed cluster with a spare and a writer. `writes()` stops
 * the writer (1 s after the call), notes its summary in the record and
 * returns what it saw acknowledged; `body` returns the invariants.
 */
export async function runSpareTrial(
  kind: FaultKind,
  o: LoopbackOptions,
  body: (bed: SpareBed, record: TrialRecord, token: string, writes: () => Promise<{ prefix: string; acked: string[] }>) => Promise<InvariantResult[]>,
): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind, seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  const prefix = `/trial/${o.seed}/`;
  const deadAfter = `membership:\n  deadAfter: ${DEAD_AFTER_S}s\n`;
  try {
    await set.init();
    for (const n of set.nodes) await appendFile(n.configPath, deadAfter);
    for (const n of set.nodes) set.start(n);
    const started = Date.now();
    await set.waitFormed(set.nodes, FORM_BOUND_MS);
    record.fault.formedAfterMs = Date.now() - started;
    const running = startSetWriter(set, prefix);
    writer = running;
    const spare = await set.addNode(4, set.nodes.slice(0, 3), token);
    await appendFile(spare.configPath, deadAfter);
    set.start(spare);
    await waitStatus(set, spare, 'a spare', (s) => s.phase === 'spare', SPARE_BOUND_MS);
    const writes = async () => {
      await sleep(1_000);
      const report = await running.stop();
      record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs };
      return { prefix, acked: report.keys };
    };
    record.invariants = await body({ set, spare, rng, trialNode: (n) => loopbackNode(set, n) }, record, token, writes);
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    await closeTrial(record, set, writer, began);
  }
  return record;
}
