/**
 * kill-snapshot: kill -9 in the middle of a scheduled snapshot. Three
 * loopback agents with `snapshots.interval: 5s` (the minimum) and
 * `snapshots.keep: 3` (so pruning runs too); about 24 MB of values are put
 * first, so that a snapshot (etcd streams it, the agent writes, fsyncs and
 * verifies it, then renames it into place) lasts long enough to be hit. The
 * harness watches one random node's /status until a snapshot is in progress
 * and kills its agent, etcd or both at a random point of the duration the
 * previous one took; a killed agent is restarted as systemd would.
 * Recovered means every node ready **and** the victim has taken a verified
 * snapshot since; every finished snapshot file on every node must verify.
 */
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import type { StatusReport } from '../src/agent/status/model.js';
import type { NodeSet, TestNode } from '../test/helpers/agents.js';
import type { TrialNode } from './access.js';
import { phasesNow, type Recovery } from './invariants.js';
import { killAndRestart, runFormedTrial, type FormedBed, type FaultOutcome } from './formed-trial.js';
import type { LoopbackOptions, Target } from './kill.js';
import type { TrialRecord } from './record.js';
import { sleep } from './rng.js';
import { statusOf } from './node-status.js';

const BULK_VALUES = 24;
const BULK_VALUE_BYTES = 1024 * 1024;
/** Bound on seeing the victim's first snapshot, and then one in progress. */
const SNAPSHOT_WAIT_MS = 60_000;

/** Puts BULK_VALUES values of 1 MiB through node 1, so a snapshot is tens of MB. */
async function putBulk(set: NodeSet, first: TestNode): Promise<void> {
  const client = new Etcd3({
    hosts: [`https://${first.address}:2379`],
    credentials: {
      rootCertificate: readFileSync(set.pki(first, 'ca.crt')),
      privateKey: readFileSync(set.pki(first, 'etcdctl.key')),
      certChain: readFileSync(set.pki(first, 'etcdctl.crt')),
    },
  });
  try {
    const value = Buffer.alloc(BULK_VALUE_BYTES, 0x61);
    for (let i = 0; i < BULK_VALUES; i++) {
      await Promise.race([client.put(`/trial-bulk/${i}`).value(value).exec(), sleep(20_000).then(() => Promise.reject(new Error('bulk put: no answer within 20 s')))]);
    }
  } finally {
    client.close();
  }
}

/** Polls the node's /status every 50 ms until `ok` holds; throws after the bound. */
async function waitSnapshotState(n: TrialNode, what: string, ok: (s: StatusReport['snapshots']) => boolean): Promise<StatusReport['snapshots']> {
  const deadline = Date.now() + SNAPSHOT_WAIT_MS;
  let last: StatusReport['snapshots'] | undefined;
  while (Date.now() < deadline) {
    last = (await statusOf(n))?.snapshots;
    if (last && ok(last)) return last;
    await sleep(50);
  }
  throw new Error(`${n.name}: no ${what} within ${SNAPSHOT_WAIT_MS} ms (snapshots: ${JSON.stringify(last ?? null).slice(0, 400)})`);
}

async function snapshotFault({ set, nodes, rng, record }: FormedBed): Promise<FaultOutcome> {
  // The draws, in an order that is part of what a seed means.
  const victimIndex = rng.int(0, 2);
  const target = rng.pick<Target>(['agent', 'etcd', 'both']);
  const pointPermille = rng.int(0, 1000);
  const restartDelayMs = rng.int(200, 3_000);

  const victim = set.nodes[victimIndex]!;
  const vnode = nodes[victimIndex]!;
  await putBulk(set, set.nodes[0]!);
  const bulkDoneAt = Date.now();
  // A snapshot that includes the bulk data, to learn how long one takes here.
  const first = await waitSnapshotState(vnode, 'snapshot of the bulk data', (s) => s.lastSuccess !== null && Date.parse(s.lastSuccess.at) > bulkDoneAt && s.inProgress === null);
  const durationMs = first.lastSuccess?.durationMs ?? 0;
  const running = await waitSnapshotState(vnode, 'snapshot in progress', (s) => s.inProgress !== null);
  const startedAt = Date.parse(running.inProgress?.since ?? new Date().toISOString());
  await sleep(startedAt + Math.round((durationMs * pointPermille) / 1000) - Date.now());
  const inProgress = (await statusOf(vnode))?.snapshots.inProgress ?? null;
  const phases = await phasesNow(nodes);
  const { killed, killedAt, healed } = await killAndRestart(set, victim, target, restartDelayMs);
  Object.assign(record.fault, {
    victim: victim.name,
    target,
    pointPermille,
    lastSnapshotMs: durationMs,
    lastSnapshotBytes: first.lastSuccess?.sizeBytes ?? null,
    sinceSnapshotStartMs: killedAt - startedAt,
    inProgressJustBefore: inProgress !== null,
    phases,
    killed,
    ...(target !== 'etcd' ? { restartDelayMs } : {}),
  });
  return {
    healed,
    recovered: async (deadline): Promise<Recovery> => {
      for (;;) {
        const s = (await statusOf(vnode))?.snapshots;
        const at = s?.lastSuccess ? Date.parse(s.lastSuccess.at) : 0;
        if (at > healed) {
          record.fault.snapshotAfterHealMs = at - healed;
          return { ms: at - healed, detail: `${victim.name} took ${s?.lastSuccess?.file ?? '?'} after the fault` };
        }
        if (Date.now() > deadline) return { ms: null, detail: `${victim.name} took no snapshot after the fault (last failure: ${JSON.stringify(s?.lastFailure ?? null)})` };
        await sleep(250);
      }
    },
  };
}

export function runSnapshotTrial(o: LoopbackOptions): Promise<TrialRecord> {
  return runFormedTrial({ kind: 'kill-snapshot', config: 'snapshots:\n  interval: 5s\n  keep: 3\n', fault: snapshotFault }, o);
}
