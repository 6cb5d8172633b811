/**
 * disk-full: the disk under one node's certificates and snapshots fills up
 * (issue 13). Three loopback agents (NodeSet, `process` service manager) with
 * pki.certValidity 2m (a renewal ≈80 s after issue) and snapshots every 5 s.
 * On one random node, one small tmpfs holds both its pki dir and its
 * snapshots dir (bind mounts of two subdirectories of the tmpfs over the
 * default paths), mounted before the agent first starts, so enrollment
 * writes into it. After formation, with a writer running, the harness fills
 * the tmpfs to the last byte (a filler file beside the two subdirectories,
 * topped up whenever the agent frees space, e.g. by removing a failed
 * snapshot's temp file), keeps it full for 20–60 s around the node's planned
 * renewal, then removes the filler.
 *
 * Checked, besides checkAll: while full the agent answers /healthz 200 at
 * every poll, every certificate and key in its pki dir stays intact (a file
 * may only change by a complete atomic replacement: new inode, content that
 * parses); after the heal the node takes a snapshot and renews within a
 * bound. Root only (mount). Every mount is removed in `finally`.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { generateToken } from '../src/pki/index.js';
import { NodeSet } from '../test/helpers/agents.js';
import type { WriterReport } from '../test/helpers/writer.js';
import { execBounded, killAndWait, pidsWithCwdUnder, pkiDir } from './access.js';
import { checkAll, waitAllReady } from './invariants.js';
import { FORM_BOUND_MS, RECOVERY_BOUND_MS, closeTrial, startSetWriter, type LoopbackOptions } from './kill.js';
import { loopbackNode } from './loopback.js';
import { renewalEvidence, statusOf } from './node-status.js';
import type { InvariantResult, TrialRecord } from './record.js';
import { Rng, sleep } from './rng.js';
import { snapshotsDir, snapshotsIntact } from './snapshot-check.js';

/** The tmpfs: certificates take a few KiB, three kept snapshots (keep 3) of a trial's small keyspace well under a MiB each. */
const TMPFS_SIZE = '16m';
const DAY2_CONFIG = 'pki:\n  certValidity: 2m\nsnapshots:\n  interval: 5s\n  keep: 3\n';
/** How often the disk is checked for free space (and topped up) while it is meant to be full. */
const TOP_UP_EVERY_MS = 100;
/** How often /healthz, /status and the pki files are checked while full. */
const POLL_EVERY_MS = 500;
/** Bound on "a snapshot taken and a renewal done" after the heal: a renewal that failed is retried 5 s later, a snapshot is due every 5 s. */
const AFTER_HEAL_BOUND_MS = 120_000;

interface Mounts {
  disk: string;
  /** Mount points in mount order; unmounted in reverse. */
  points: string[];
}

async function run(file: string, args: string[]): Promise<void> {
  const r = await execBounded(file, args, 20_000);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/**
 * One tmpfs at <root>/fault-disk with pki/ and snapshots/ inside, bind-mounted
 * over <root>/etc/etcd/pki and <root>/var/lib/etcd-agent/snapshots: both paths
 * stay the defaults (the invariants read them there) and one filler fills both.
 */
async function mountDisk(root: string, mounts: Mounts): Promise<void> {
  await mkdir(mounts.disk, { recursive: true, mode: 0o700 });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'etcd-agent-trial', mounts.disk]);
  mounts.points.push(mounts.disk);
  for (const [sub, target] of [['pki', pkiDir(root)], ['snapshots', snapshotsDir(root)]] as const) {
    if (existsSync(target) && readdirSync(target).length > 0) throw new Error(`${target} is not empty before the agent started: the tmpfs would hide its files`);
    await mkdir(join(mounts.disk, sub), { mode: 0o700 });
    await mkdir(target, { recursive: true, mode: 0o700 });
    await run('mount', ['--bind', join(mounts.disk, sub), target]);
    mounts.points.push(target);
  }
}

/** Unmounts in reverse order (lazily when busy); returns what is still mounted under `root` afterwards. */
async function unmountAll(root: string, mounts: Mounts): Promise<string[]> {
  for (const point of [...mounts.points].reverse()) {
    const r = await execBounded('umount', [point], 20_000);
    if (r.code !== 0) await execBounded('umount', ['-l', point], 20_000);
  }
  mounts.points.length = 0;
  return mountedUnder(root);
}

function mountedUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === root || p.startsWith(`${root}/`));
}

/** Appends to the filler until the filesystem refuses a single byte (ENOSPC); returns the bytes added. */
async function fillUp(filler: string): Promise<number> {
  const handle = await open(filler, 'a', 0o600);
  let added = 0;
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x5a);
      // Bounded: the tmpfs is 16 MiB, so a size class ends long before this.
      for (let i = 0; i < 5000; i++) {
        try {
          const { bytesWritten } = await handle.write(chunk, 0, size);
          added += bytesWritten;
          if (bytesWritten < size) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await handle.close();
  }
  return added;
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

interface FileFact {
  ino: number;
  hash: string;
}

/** The certificates and keys of a pki dir (the agent's `.name.random.tmp` temp files left out): inode and content hash. */
function pkiFacts(dir: string): Map<string, FileFact> {
  const out = new Map<string, FileFact>();
  for (const name of readdirSync(dir)) {
    if (!/\.(crt|key)$/.test(name) || name.startsWith('.')) continue;
    const file = join(dir, name);
    out.set(name, { ino: statSync(file).ino, hash: createHash('sha256').update(readFileSync(file)).digest('hex') });
  }
  return out;
}

/** Why a pki file is not a complete certificate or key, or undefined. */
function pkiFileProblem(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.crt')) new X509Certificate(text);
    else createPrivateKey(text);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Compares the pki dir with its facts when the disk filled; returns problems (a file missing, changed in place, or not parsing) and the names of files replaced whole. */
function pkiChanges(dir: string, base: Map<string, FileFact>): { problems: string[]; replaced: string[]; temps: number } {
  const problems: string[] = [];
  const replaced: string[] = [];
  const now = pkiFacts(dir);
  for (const [name, was] of base) {
    const is = now.get(name);
    if (!is) {
      problems.push(`${name} missing`);
      continue;
    }
    if (is.hash === was.hash) continue;
    if (is.ino === was.ino) problems.push(`${name} changed in place (same inode)`);
    const why = pkiFileProblem(join(dir, name));
    if (why) problems.push(`${name} does not parse: ${why}`);
    replaced.push(name);
  }
  const temps = readdirSync(dir).filter((n) => n.startsWith('.')).length;
  return { problems, replaced, temps };
}

/** Remembers each distinct value once, with when it was first seen (ms since the disk filled); at most 8. */
class Distinct {
  readonly seen: { atMs: number; value: string }[] = [];
  add(value: string | null | undefined, atMs: number): void {
    if (!value || this.seen.length >= 8 || this.seen.some((s) => s.value === value)) return;
    this.seen.push({ atMs, value });
  }
}

export async function runDiskFullTrial(o: LoopbackOptions): Promise<TrialRecord> {
  const rng = new Rng(o.seed);
  const began = Date.now();
  const record: TrialRecord = { kind: 'disk-full', seed: o.seed, startedAt: new Date(began).toISOString(), trialMs: 0, fault: {}, recoveryMs: null, invariants: [] };
  const token = generateToken();
  const set = new NodeSet({ subnet: o.subnet, count: 3, token, cluster: 'trial' });
  let writer: { stop(): Promise<WriterReport> } | undefined;
  let mounts: Mounts | undefined;
  let victimRoot = '';
  const prefix = `/trial/${o.seed}/`;
  try {
    if (process.getuid?.() !== 0) throw new Error('the disk-full trial needs root (it mounts a tmpfs); run the trials as root');
    // The draws, in an order that is part of what a seed means: victim, how long the disk stays full, how long before the planned renewal it fills.
    const victimIndex = rng.int(0, 2);
    const fullMs = rng.int(20_000, 60_000);
    const leadMs = rng.int(2_000, fullMs - 2_000);

    await set.init();
    for (const n of set.nodes) await appendFile(n.configPath, DAY2_CONFIG);
    const victim = set.nodes[victimIndex]!;
    victimRoot = victim.root;
    mounts = { disk: join(victim.root, 'fault-disk'), points: [] };
    await mountDisk(victim.root, mounts);
    record.fault.victim = victim.name;
    record.fault.tmpfs = { size: TMPFS_SIZE, mountedAt: [...mounts.points] };
    for (const n of set.nodes) set.start(n);
    const started = Date.now();
    const nodes = set.nodes.map((n) => loopbackNode(set, n));
    const victimNode = nodes[victimIndex]!;
    await set.waitFormed(set.nodes, FORM_BOUND_MS);
    record.fault.formedAfterMs = Date.now() - started;
    record.fault.freeAtFormationBytes = await freeBytes(mounts.disk);
    writer = startSetWriter(set, prefix);

    // Fill at `leadMs` before the victim's planned renewal (its nextRenewalAt; the victim's clock is the harness's), so the renewal lands on a full disk.
    const planned = (await statusOf(victimNode))?.certificateRenewal.nextRenewalAt;
    const fillAt = planned ? Date.parse(planned) - leadMs : Date.now();
    await sleep(fillAt - Date.now());
    const filler = join(mounts.disk, 'filler');
    const before = await statusOf(victimNode);
    const base = pkiFacts(pkiDir(victim.root));
    const filledAt = Date.now();
    const filledBytes = await fillUp(filler);
    Object.assign(record.fault, { fullMs, leadMs, plannedRenewalAt: planned ?? null, filledAtMs: filledAt - started, fillLateMs: Math.max(0, filledAt - fillAt), filledBytes });

    // Keep it full: top the filler up whenever the agent frees space (a failed write's temp file removed).
    let topUps = 0;
    let topUpBytes = 0;
    let maxFreeSeen = 0;
    let full = true;
    const keeper = (async () => {
      while (full) {
        const free = await freeBytes(mounts!.disk).catch(() => 0);
        if (free > 0) {
          maxFreeSeen = Math.max(maxFreeSeen, free);
          topUps++;
          topUpBytes += await fillUp(filler).catch(() => 0);
        }
        await sleep(TOP_UP_EVERY_MS);
      }
    })();

    const healthFailures: string[] = [];
    const pkiProblems = new Set<string>();
    const replaced = new Set<string>();
    let maxTemps = 0;
    const snapshotErrors = new Distinct();
    const renewalErrors = new Distinct();
    const readyz = new Distinct();
    let polls = 0;
    let lastWhileFull = before;
    try {
      while (Date.now() - filledAt < fullMs) {
        polls++;
        const atMs = Date.now() - filledAt;
        const h = await victimNode.get('/healthz').catch((err: unknown) => ({ status: 0, body: String(err) }));
        if (h.status !== 200) healthFailures.push(`+${atMs} ms: ${h.status} ${h.body.slice(0, 120)}`);
        const s = await statusOf(victimNode);
        if (s) {
          lastWhileFull = s;
          snapshotErrors.add(s.snapshots.lastFailure ? `${s.snapshots.lastFailure.reason}: ${s.snapshots.lastFailure.error}` : null, atMs);
          renewalErrors.add(s.certificateRenewal.lastError, atMs);
        }
        const r = await victimNode.get('/readyz').catch(() => ({ status: 0, body: '(no answer)' }));
        readyz.add(`${r.status} ${r.status === 200 ? '' : r.body.slice(0, 200)}`.trim(), atMs);
        const c = pkiChanges(pkiDir(victim.root), base);
        c.problems.forEach((p) => pkiProblems.add(p));
        c.replaced.forEach((n) => replaced.add(n));
        maxTemps = Math.max(maxTemps, c.temps);
        await sleep(filledAt + atMs + POLL_EVERY_MS - Date.now());
      }
    } finally {
      full = false;
      await keeper;
      await rm(filler, { force: true });
    }
    const healedAt = Date.now();
    const atHeal = await statusOf(victimNode);
    record.fault.whileFull = {
      heldMs: healedAt - filledAt,
      polls,
      topUps,
      topUpBytes,
      maxFreeSeenBytes: maxFreeSeen,
      healthzFailures: healthFailures.slice(0, 10),
      readyz: readyz.seen,
      snapshotLastFailure: snapshotErrors.seen,
      renewalLastError: renewalErrors.seen,
      pkiReplacedWhole: [...replaced],
      pkiTempFilesMax: maxTemps,
      snapshots: { before: counts(before), atHeal: counts(atHeal) },
      renewal: { before: renewalEvidence(before), atHeal: renewalEvidence(atHeal) },
      lastStatusWhileFull: { snapshots: counts(lastWhileFull), renewal: renewalEvidence(lastWhileFull) },
    };

    // After the heal: a snapshot taken and a renewal done, as the victim's /status says.
    const snapsAtHeal = atHeal?.snapshots.successes ?? Infinity;
    const renewalsAtFill = before?.certificateRenewal.renewals ?? Infinity;
    let snapAfterMs: number | null = null;
    let renewAfterMs: number | null = null;
    let lastAfter = atHeal;
    while ((snapAfterMs === null || renewAfterMs === null) && Date.now() - healedAt < AFTER_HEAL_BOUND_MS) {
      const s = await statusOf(victimNode);
      if (s) {
        lastAfter = s;
        if (snapAfterMs === null && s.snapshots.successes > snapsAtHeal) snapAfterMs = Date.now() - healedAt;
        if (renewAfterMs === null && s.certificateRenewal.renewals > renewalsAtFill) renewAfterMs = Date.now() - healedAt;
      }
      await sleep(500);
    }
    record.fault.afterHeal = { snapshotAfterMs: snapAfterMs, renewedAfterMs: renewAfterMs, snapshots: counts(lastAfter), renewal: renewalEvidence(lastAfter), pkiTempFilesLeft: readdirSync(pkiDir(victim.root)).filter((n) => n.startsWith('.')) };
    const recovery = await waitAllReady(nodes, healedAt, RECOVERY_BOUND_MS);
    record.recoveryMs = recovery.ms;

    await sleep(1_000);
    const report = await writer.stop();
    writer = undefined;
    record.fault.writer = { attempts: report.attempts, ok: report.ok, failed: report.failures.length, maxGapMs: report.maxGapMs, firstFailures: report.failures.slice(0, 3) };

    const extra: InvariantResult[] = [
      { name: 'healthz-while-full', ok: healthFailures.length === 0 && polls > 0, detail: healthFailures.length === 0 ? `${polls} polls of ${victim.name}'s /healthz answered 200` : `${healthFailures.length} of ${polls} polls failed: ${healthFailures.slice(0, 5).join('; ')}` },
      { name: 'pki-intact-while-full', ok: pkiProblems.size === 0, detail: pkiProblems.size === 0 ? `every certificate and key of ${victim.name} intact at ${polls} polls; replaced whole: ${[...replaced].join(', ') || 'none'}` : [...pkiProblems].join('; ') },
      {
        name: 'recovered-after-heal',
        ok: snapAfterMs !== null && renewAfterMs !== null,
        detail: `${victim.name}: ${snapAfterMs === null ? `no snapshot within ${AFTER_HEAL_BOUND_MS} ms of the heal` : `snapshot ${snapAfterMs} ms after the heal`}; ${renewAfterMs === null ? `no renewal since the disk filled, ${AFTER_HEAL_BOUND_MS} ms after the heal` : `renewed (first time since the fill) ${renewAfterMs} ms after the heal`}`,
      },
    ];
    const invariants = await checkAll(nodes, { token, recovery, boundMs: RECOVERY_BOUND_MS, writes: { prefix, acked: report.keys } });
    // The lead wires snapshots-intact into checkAll; until then it runs here (never twice).
    if (!invariants.some((i) => i.name === 'snapshots-intact')) invariants.push(await snapshotsIntact(nodes));
    record.invariants = [...invariants, ...extra];
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  } finally {
    // Processes first (an agent or etcd with a file open on the tmpfs keeps it busy), then the mounts, then the rest of the teardown.
    await writer?.stop().catch(() => undefined);
    writer = undefined;
    await set.cleanup(true).catch(() => undefined);
    await killAndWait(set.nodes.flatMap((n) => pidsWithCwdUnder(n.root)));
    if (mounts) {
      if (process.env.KEEP_TEST_DIRS === '1') await keepCopy(mounts.disk, join(victimRoot, 'fault-disk-copy'));
      const left = await unmountAll(victimRoot, mounts).catch((err: unknown) => [String(err)]);
      if (left.length > 0) record.error = `${record.error ?? ''} teardown: still mounted: ${left.join(', ')}`.trim();
    }
    await closeTrial(record, set, writer, began);
  }
  return record;
}

function counts(s: Awaited<ReturnType<typeof statusOf>>): Record<string, unknown> {
  if (!s) return { status: '(no status)' };
  const n = s.snapshots;
  return { successes: n.successes, failures: n.failures, consecutiveFailures: n.consecutiveFailures, lastSuccessAt: n.lastSuccess?.at ?? null, lastFailure: n.lastFailure, files: n.files.length };
}

/** With KEEP_TEST_DIRS=1, what was on the tmpfs is copied out before it is unmounted (the filler is gone by then). */
async function keepCopy(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const sub of await readdir(from).catch(() => [] as string[])) await execBounded('cp', ['-a', join(from, sub), to], 20_000);
}
