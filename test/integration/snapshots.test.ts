/**
 * Issue 12 against real etcd: scheduled snapshots (every member, interval
 * 10 s, keep 3), verified by etcdctl; a snapshot killed mid-write (kill -9 at
 * a failpoint) or failing on a full disk (a tiny tmpfs) leaves no partial file
 * and keeps the older ones; `snapshot save` gives a file etcdctl restores into
 * a single-node etcd with the same keys; /metrics parses strictly and holds
 * sensible values, and answers while etcd is frozen.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAILPOINTS_ENV } from '../../src/util/failpoint.js';
import { generateToken } from '../../src/pki/index.js';
import { cliAsync, httpGet, NodeSet, type TestNode } from '../helpers/agents.js';
import { parsePrometheusText, type Family } from '../helpers/prom-text.js';
import { waitFor } from '../helpers/wait.js';

const SUBNET = 91;
const set = new NodeSet({ subnet: SUBNET, count: 3, token: generateToken(), cluster: 'snaps' });
const scratch = mkdtempSync(join(tmpdir(), 'ea-snapshots-'));
const tmpfs = join(scratch, 'tiny-disk');
let restoredEtcd: ChildProcess | undefined;
t.teardown(async () => {
  restoredEtcd?.kill('SIGKILL');
  await set.cleanup(process.env.KEEP_TEST_DIRS === '1');
  spawnSync('umount', ['-l', tmpfs]);
  rmSync(scratch, { recursive: true, force: true });
});

const FINAL = /^snaps_(n\d)_\d{8}T\d{6}\.\d{3}Z_rev(\d+)\.db$/;
const nodes = (): [TestNode, TestNode, TestNode] => set.nodes as [TestNode, TestNode, TestNode];
const snapshotDir = (n: TestNode): string => (n === nodes()[2] ? tmpfs : join(n.root, 'var', 'lib', 'etcd-agent', 'snapshots'));
const finals = (n: TestNode): string[] => (existsSync(snapshotDir(n)) ? readdirSync(snapshotDir(n)).filter((f) => FINAL.test(f)).sort() : []);
const partials = (n: TestNode): string[] => (existsSync(snapshotDir(n)) ? readdirSync(snapshotDir(n)).filter((f) => f.endsWith('.partial')) : []);
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const contents = (n: TestNode): Map<string, string> => new Map(finals(n).map((f) => [f, sha(join(snapshotDir(n), f))]));

function etcdctlStatus(file: string): { ok: boolean; revision?: number; hash?: number; out: string } {
  const r = spawnSync('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ETCDCTL_API: '3' } });
  if (r.status !== 0) return { ok: false, out: `${r.stdout}${r.stderr}` };
  const json = JSON.parse(r.stdout) as { revision: number; hash: number };
  return { ok: true, revision: json.revision, hash: json.hash, out: r.stdout };
}

/** Puts `count` keys of `bytes` random bytes each under issue12/<prefix>. */
function putKeys(prefix: string, count: number, bytes = 16): void {
  for (let i = 0; i < count; i++) {
    const value = createHash('sha256').update(`${prefix}${i}`).digest('hex').repeat(Math.ceil(bytes / 64)).slice(0, bytes);
    const r = set.etcdctl(nodes()[0], ['put', `issue12/${prefix}/${i}`, value]);
    if (r.status !== 0) throw new Error(`put failed: ${r.stderr}`);
  }
}

t.before(async () => {
  await set.init();
  mkdirSync(tmpfs, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', tmpfs], { encoding: 'utf8' });
  if (mounted.status !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
  for (const n of set.nodes) {
    appendFileSync(n.configPath, `snapshots:\n  interval: 10s\n  keep: 3\n${n === nodes()[2] ? `  dir: ${tmpfs}\n` : ''}`);
    set.start(n);
  }
  await set.waitFormed(set.nodes, 90_000);
  putKeys('seed', 20);
});

t.test('issue 12 #1: scheduled snapshots appear on every member, pass etcdctl snapshot status, never more than 3', async (t) => {
  const [n1] = nodes();
  let most = 0;
  let written = 0;
  await waitFor(
    'n1 to take 5 scheduled snapshots (retention has then pruned twice)',
    async () => {
      most = Math.max(most, finals(n1).length);
      putKeys(`tick${written++}`, 1);
      return (await set.status(n1)).snapshots.successes >= 5;
    },
    { timeoutMs: 90_000, intervalMs: 500, describe: () => `files: ${finals(n1).join(', ')}` },
  );
  most = Math.max(most, finals(n1).length);
  t.ok(most <= 3, `never more than 3 snapshots kept (most seen: ${most})`);
  // One consistent moment (no snapshot running, /status and the directory agree), the files hard-linked
  // so that checking them takes no race with the next snapshot's pruning.
  const kept = join(scratch, 'kept');
  mkdirSync(kept);
  const { status, files } = await waitFor('n1 between two snapshots', async () => {
    const status = (await set.status(n1)).snapshots;
    const files = finals(n1);
    if (status.inProgress || status.files.map((f) => f.file).sort().join() !== files.join()) return undefined;
    for (const f of files) linkSync(join(snapshotDir(n1), f), join(kept, f));
    return { status, files };
  }, { timeoutMs: 20_000, intervalMs: 200 });
  t.equal(files.length, 3, 'exactly keep=3 files after pruning');
  t.equal(statSync(snapshotDir(n1)).mode & 0o777, 0o700, 'snapshots dir is 0700');
  let lastRevision = 0;
  for (const f of files) {
    const path = join(kept, f);
    t.equal(statSync(path).mode & 0o777, 0o600, `${f} is 0600`);
    const st = etcdctlStatus(path);
    t.ok(st.ok, `etcdctl snapshot status ${f}: ${st.out}`);
    t.equal(st.revision, Number(FINAL.exec(f)![2]), `${f}: the revision in its name is the one etcdctl reads`);
    t.ok((st.revision ?? 0) >= lastRevision, 'revisions grow with time');
    lastRevision = st.revision ?? 0;
  }
  const listed = await cliAsync(['snapshot', 'list', '--verify', '--json', '--config', n1.configPath]);
  t.equal(listed.status, 0, listed.stderr);
  const own = (JSON.parse(listed.stdout) as { snapshots: { file: string; verified: { ok: boolean; hash: number } }[] }).snapshots;
  const compared = own.filter((s) => files.includes(s.file));
  t.ok(compared.length >= 2, 'snapshot list --verify shows them');
  for (const s of compared) t.equal(s.verified.hash, etcdctlStatus(join(kept, s.file)).hash, `${s.file}: our hash is etcdctl's`);
  t.equal(status.files.length, 3);
  t.equal(status.lastSuccess?.file, files[files.length - 1], '/status names the newest file');
  t.equal(status.lastSuccess?.sizeBytes, statSync(join(kept, files[files.length - 1]!)).size, '/status has its size');
  t.equal(status.failures, 0);
  for (const n of nodes().slice(1)) t.ok(finals(n).length >= 1, `${n.name} takes its own snapshots too`);
  t.same(partials(n1), [], 'no temp file left');
});

t.test('issue 12 #1: on a full disk (1 MiB tmpfs) the snapshot fails, leaves no partial file and keeps the older ones', async (t) => {
  const [, , n3] = nodes();
  await waitFor('n3 to hold 2 snapshots', () => finals(n3).length >= 2, { timeoutMs: 40_000, intervalMs: 500 });
  putKeys('big', 48, 48 * 1024); // ~2.3 MB: the next snapshot cannot fit in 1 MiB
  // Take stock between snapshots: one running now may still have fitted.
  const idle = await waitFor('n3 idle', async () => {
    const s = (await set.status(n3)).snapshots;
    return s.inProgress === null ? s : undefined;
  }, { timeoutMs: 20_000 });
  const failuresBefore = idle.failures;
  const before = contents(n3);
  const failed = await waitFor(
    'a failed snapshot on n3',
    async () => {
      const s = (await set.status(n3)).snapshots;
      return s.failures > failuresBefore ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  t.match(failed.lastFailure?.error ?? '', /ENOSPC|no space/i, `the failure says why: ${failed.lastFailure?.error}`);
  t.equal(failed.consecutiveFailures >= 1, true);
  t.same(partials(n3), [], 'no partial file left on the full disk');
  t.same(contents(n3), before, 'every older snapshot is still there, unchanged, and no new file appeared');
  for (const f of finals(n3)) t.ok(etcdctlStatus(join(snapshotDir(n3), f)).ok, `${f} still verifies`);
});

t.test('issue 12 #1: a snapshot killed mid-write (kill -9) leaves no partial file and keeps the older ones', async (t) => {
  const [, n2] = nodes();
  await waitFor('n2 to hold 2 snapshots', () => finals(n2).length >= 2, { timeoutMs: 40_000, intervalMs: 500 });
  const dbSize = (JSON.parse(set.etcdctl(n2, ['endpoint', 'status', '-w', 'json']).stdout) as { Status: { dbSize: number } }[])[0]!.Status.dbSize;
  await set.stop(n2);
  const before = contents(n2);
  set.start(n2, { env: { [FAILPOINTS_ENV]: 'snapshot-partial-written' } });
  const died = await new Promise<NodeJS.Signals | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 90_000);
    n2.proc!.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
  });
  t.equal(died, 'SIGKILL', 'the agent died by SIGKILL in the middle of a snapshot');
  t.match(readFileSync(n2.logFile, 'utf8'), /failpoint snapshot-partial-written reached/);
  const left = partials(n2);
  t.equal(left.length, 1, 'the killed snapshot left only its hidden temp file');
  const partialSize = statSync(join(snapshotDir(n2), left[0]!)).size;
  t.ok(partialSize > 0 && partialSize < dbSize, `it was killed mid-write (${partialSize} of about ${dbSize} bytes)`);
  t.same(contents(n2), before, 'no file under a snapshot name is partial; the older snapshots are unchanged');
  for (const f of finals(n2)) t.ok(etcdctlStatus(join(snapshotDir(n2), f)).ok, `${f} still verifies`);

  set.killEtcd(n2);
  set.start(n2);
  await set.waitFormed([n2], 60_000);
  await waitFor('n2 to take a snapshot after the restart', async () => (await set.status(n2)).snapshots.successes >= 1, { timeoutMs: 40_000, intervalMs: 500 });
  t.same(partials(n2), [], 'the temp file of the killed snapshot was removed at start');
  t.match(readFileSync(n2.logFile, 'utf8'), /removed temp files of a snapshot that never finished/);
  for (const f of finals(n2)) t.ok(etcdctlStatus(join(snapshotDir(n2), f)).ok, `${f} verifies`);
  t.ok(finals(n2).length <= 3);
});

t.test('issue 12 #2: snapshot save gives a file that etcdctl restores into a single-node etcd with the same keys', async (t) => {
  const [n1] = nodes();
  putKeys('save', 10);
  const path = join(scratch, 'saved.db');
  const saved = await cliAsync(['snapshot', 'save', path, '--config', n1.configPath]);
  t.equal(saved.status, 0, saved.stderr);
  t.match(saved.stdout, /^saved .*saved\.db: \d+ bytes, revision \d+/);
  t.same(readdirSync(scratch).filter((f) => f.endsWith('.partial')), [], 'no temp file beside it');
  t.ok(etcdctlStatus(path).ok, 'etcdctl snapshot status accepts it');

  const dataDir = join(scratch, 'restored');
  const peer = `http://127.0.${SUBNET}.200:2480`;
  const client = `http://127.0.${SUBNET}.200:2479`;
  const restore = spawnSync(
    'etcdctl',
    ['snapshot', 'restore', path, '--name', 'r1', '--data-dir', dataDir, '--initial-cluster', `r1=${peer}`, '--initial-advertise-peer-urls', peer],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ETCDCTL_API: '3' } },
  );
  t.equal(restore.status, 0, `etcdctl snapshot restore: ${restore.stderr}`);
  restoredEtcd = spawn('etcd', ['--name', 'r1', '--data-dir', dataDir, '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `r1=${peer}`], { stdio: 'ignore' });
  const plain = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync('etcdctl', [`--endpoints=${client}`, '--dial-timeout=2s', '--command-timeout=5s', ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ETCDCTL_API: '3' } });
  await waitFor('the restored single-node etcd to serve', () => plain(['endpoint', 'health']).status === 0, { timeoutMs: 30_000, intervalMs: 500 });
  const kvs = (out: string): { key: string; value: string }[] =>
    ((JSON.parse(out) as { kvs?: { key: string; value: string }[] }).kvs ?? []).map((kv) => ({ key: kv.key, value: kv.value }));
  // Every key name, and every value except the 2 MB of big ones (compared one by one below).
  const keysOnly = ['get', 'issue12/', '--prefix', '--keys-only', '-w', 'json'];
  const restoredKeys = kvs(plain(keysOnly).stdout).map((kv) => kv.key);
  t.ok(restoredKeys.length > 50, `the restored etcd holds the keys (${restoredKeys.length})`);
  t.same(restoredKeys, kvs(set.etcdctl(n1, keysOnly).stdout).map((kv) => kv.key), 'the same keys as the cluster');
  for (const prefix of ['issue12/seed/', 'issue12/save/', 'issue12/tick']) {
    const get = ['get', prefix, '--prefix', '-w', 'json'];
    t.same(kvs(plain(get).stdout), kvs(set.etcdctl(n1, get).stdout), `the same values under ${prefix}`);
  }
  for (const i of [0, 47]) {
    const get = ['get', `issue12/big/${i}`, '--print-value-only'];
    t.equal(sha256(plain(get).stdout), sha256(set.etcdctl(n1, get).stdout), `the same 48 KB value issue12/big/${i}`);
  }
  const members = plain(['member', 'list', '-w', 'json']);
  t.equal((JSON.parse(members.stdout) as { members: unknown[] }).members.length, 1, 'a single-node etcd');
});

const sample = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined =>
  [...families.values()].flatMap((f) => f.samples).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

t.test('issue 12 #5: /metrics parses and holds the metrics with sensible values', async (t) => {
  const now = Date.now() / 1000;
  const scraped = await Promise.all(set.nodes.map(async (n) => {
    const r = await httpGet(n.address, n.statusPort, '/metrics');
    t.equal(r.status, 200);
    return { n, families: parsePrometheusText(r.body), status: await set.status(n) };
  }));
  for (const { n, families, status } of scraped) {
    const v = (name: string, labels: Record<string, string> = {}): number | undefined => sample(families, name, labels);
    t.equal(v('etcd_agent_up'), 1, `${n.name}: up`);
    t.equal(v('etcd_agent_ready'), 1, `${n.name}: ready`);
    t.equal(v('etcd_agent_phase', { phase: 'formed' }), 1);
    t.equal(v('etcd_agent_cluster_formed'), 1);
    t.equal(v('etcd_agent_etcd_members'), 3);
    t.equal(v('etcd_agent_etcd_members_healthy'), 3);
    t.equal(v('etcd_agent_peers_authenticated'), status.peers.filter((p) => p.authenticated).length);
    const expiry = families.get('etcd_agent_certificate_expiry_seconds')!.samples;
    t.equal(expiry.length, 3, 'ca.crt, server.crt, etcdctl.crt');
    for (const s of expiry) t.ok(s.value > 300 * 86_400 && s.value < 3651 * 86_400, `${s.labels.file}: ${s.value} s`);
    t.equal(v('etcd_agent_ca_holder'), status.caHolder?.self ? 1 : 0);
    const last = status.snapshots.lastSuccess!;
    t.ok(last, `${n.name} has taken a snapshot`);
    t.equal(v('etcd_agent_snapshot_last_success_timestamp_seconds'), Date.parse(last.at) / 1000);
    t.ok(now - v('etcd_agent_snapshot_last_success_timestamp_seconds')! < 600, 'recent');
    t.equal(v('etcd_agent_snapshot_last_size_bytes'), last.sizeBytes);
    t.ok(v('etcd_agent_snapshot_last_duration_seconds')! > 0 && v('etcd_agent_snapshot_last_duration_seconds')! < 60);
    t.equal(v('etcd_agent_snapshot_successes_total'), status.snapshots.successes);
    t.equal(v('etcd_agent_snapshot_failures_total'), status.snapshots.failures);
    t.equal(v('etcd_agent_snapshot_files'), status.snapshots.files.length);
    t.equal(families.get('etcd_agent_membership_operations_total')?.type, 'counter', 'membership operations counter (fed by the membership controller)');
    t.ok(v('etcd_agent_leader_changes_seen_total')! >= 0);
    t.ok(v('process_resident_memory_bytes')! > 20e6, 'RSS');
    t.ok(v('process_cpu_seconds_total')! > 0, 'CPU');
    t.ok(v('nodejs_eventloop_lag_seconds')! >= 0, 'event-loop lag');
    t.equal(families.get('nodejs_gc_duration_seconds')?.type, 'histogram', 'GC');
  }
  t.equal(scraped.reduce((sum, s) => sum + (sample(s.families, 'etcd_agent_ca_holder') ?? 0), 0), 1, 'exactly one CA holder');
  t.ok(sample(scraped[2]!.families, 'etcd_agent_snapshot_failures_total')! >= 1, 'n3 counts its failures on the full disk');
});

t.test('issue 12 #5: /metrics and /status never wait on etcd (etcd frozen with SIGSTOP)', async (t) => {
  const [n1] = nodes();
  const pid = set.etcdPid(n1);
  t.ok(pid, 'etcd pid known');
  process.kill(pid!, 'SIGSTOP');
  try {
    // Long enough for health checks and a snapshot attempt to hang on the frozen etcd.
    await new Promise((r) => setTimeout(r, 4000));
    for (let i = 0; i < 3; i++) {
      for (const path of ['/metrics', '/status']) {
        const started = Date.now();
        const r = await httpGet(n1.address, n1.statusPort, path);
        t.equal(r.status, 200);
        t.ok(Date.now() - started < 1000, `${path} answered in ${Date.now() - started} ms`);
        if (path === '/metrics') parsePrometheusText(r.body);
      }
    }
  } finally {
    process.kill(pid!, 'SIGCONT');
  }
});
