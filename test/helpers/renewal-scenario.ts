/**
 * Issue 11 #1, the scenario: with a short pki.certValidity, every node's
 * server certificate is renewed `rounds` times (`openssl x509 -enddate`
 * changes on each node) while a client writes continuously through every
 * node; no write fails for longer than 2 s; `etcdctl endpoint health
 * --cluster` stays healthy. etcd keeps running the whole time (same pid): it
 * picks the renewed files up on new TLS connections; the agents' own etcd
 * clients follow (with two rounds, every node stays ready after its first
 * certificate has expired).
 *
 * Takes about `rounds` × (2/3 + jitter) of the validity. The default suite
 * runs one round at 2m (test/integration/cert-renewal.test.ts); the issue's
 * full scenario, two rounds at 3m, is in test/long (npm run test:long).
 *
 * The 2 s bound is checked around every renewal (its start to 10 s after its
 * files were written, any member's renewal for every writer); a write failing
 * on a TLS or certificate problem fails the test wherever it happens. Outages
 * away from any renewal come from the machine and are reported
 * (RENEWAL_STRICT=1 asserts them too).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { withClient } from '../../src/etcd/client.js';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, type TestNode } from './agents.js';
import { waitFor } from './wait.js';

export interface RenewalScenario {
  /** 127.0.X.0/24 for the three nodes. */
  subnet: number;
  /** pki.certValidity in minutes (2 is the smallest the agent accepts). */
  validityMinutes: number;
  /** How many renewals every node must go through. */
  rounds: number;
}

const MAX_OUTAGE_MS = 2000;
/**
 * A write fails when etcd refuses it or gives no answer within this. Longer
 * than the outage bound on purpose: on a loaded 2-core machine a write now and
 * then takes 2-3 s and still succeeds (it did not fail); a write that fails at
 * all keeps the writer failing for at least this long, above the bound.
 */
const WRITE_DEADLINE_MS = 5000;
/** What a certificate swap gone wrong looks like (src/etcd/client.ts explain()). */
const TLS_TROUBLE = /rejected our client certificate|is not signed by the CA|TLS handshake failed|does not name this address|unusable/;

/** Registers the scenario as this test file's test. */
export function renewalScenario({ subnet, validityMinutes, rounds }: RenewalScenario): void {
  const VALIDITY = `${validityMinutes}m`;
  const VALIDITY_MS = validityMinutes * 60_000;
  t.setTimeout((rounds * validityMinutes + 6) * 60_000);

  const set = new NodeSet({ subnet, count: 3, token: generateToken(), cluster: 'renewal' });
  t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

  function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
      const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
  }

  const enddate = async (n: TestNode): Promise<string> => (await run('openssl', ['x509', '-noout', '-enddate', '-in', set.pki(n, 'server.crt')])).out.trim();

  /** Writes through one node, each over a fresh TLS connection with the node's admin certificate as it is on disk right now. */
  class Writer {
    writes = 0;
    failures: string[] = [];
    /** Periods during which writes through this node failed: from the first failed attempt to the next success. */
    outages: { from: number; to: number }[] = [];
    slowestWriteMs = 0;
    private failingSince: number | undefined;
    private stopped = false;
    private done: Promise<void> | undefined;

    constructor(private readonly node: TestNode) {}

    start(): void {
      this.done = this.loop();
    }

    private async loop(): Promise<void> {
      for (let i = 0; !this.stopped; i++) {
        const started = Date.now();
        try {
          const tls = {
            caPem: readFileSync(set.pki(this.node, 'ca.crt'), 'utf8'),
            certPem: readFileSync(set.pki(this.node, 'etcdctl.crt'), 'utf8'),
            keyPem: readFileSync(set.pki(this.node, 'etcdctl.key'), 'utf8'),
          };
          await withClient([`https://${this.node.address}:2379`], tls, WRITE_DEADLINE_MS, (c) => c.put(`renewal/${this.node.name}`).value(String(i)).exec());
          this.writes += 1;
          this.slowestWriteMs = Math.max(this.slowestWriteMs, Date.now() - started);
          if (this.failingSince !== undefined) this.outages.push({ from: this.failingSince, to: Date.now() });
          this.failingSince = undefined;
        } catch (err) {
          this.failures.push(`${new Date(started).toISOString()} +${Date.now() - started} ms: ${String(err).slice(0, 160)}`);
          this.failingSince ??= started;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      if (this.failingSince !== undefined) this.outages.push({ from: this.failingSince, to: Date.now() });
    }

    async stop(): Promise<void> {
      this.stopped = true;
      await this.done;
    }
  }

  /**
   * Every renewal, from its start (-2 s) to 10 s after its new files were
   * written: when a certificate swap could disturb a client of any member.
   */
  function renewalWindows(): { node: string; from: number; to: number }[] {
    const windows: { node: string; from: number; to: number }[] = [];
    for (const n of set.nodes) {
      let start: number | undefined;
      for (const line of readFileSync(n.logFile, 'utf8').split('\n')) {
        if (!line.includes('"component":"certificates"')) continue;
        const entry = JSON.parse(line) as { time: string; msg: string };
        if (entry.msg === "renewing this node's certificates") start = Date.parse(entry.time);
        if (entry.msg === "renewed this node's certificates" && start !== undefined) {
          windows.push({ node: n.name, from: start - 2000, to: Date.parse(entry.time) + 10_000 });
          start = undefined;
        }
      }
    }
    return windows;
  }

  t.test(`issue 11 #1: every server certificate renewed ${rounds === 1 ? 'once' : `${rounds} times`} (certValidity ${VALIDITY}) while clients write through every node`, async (t) => {
    await set.init();
    for (const n of set.nodes) set.start(n, { env: { ETCD_AGENT_PKI_CERT_VALIDITY: VALIDITY } });
    await set.waitFormed(set.nodes, 120_000);
    const formedAt = Date.now();

    const etcdPids = set.nodes.map((n) => set.etcdPid(n));
    const seen = new Map<string, Set<string>>(set.nodes.map((n) => [n.name, new Set<string>()]));
    for (const n of set.nodes) seen.get(n.name)!.add(await enddate(n));
    t.comment(`first certificates: ${set.nodes.map((n) => `${n.name} ${[...seen.get(n.name)!][0]}`).join('; ')}`);

    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    const writers = set.nodes.map((n) => new Writer(n));
    for (const w of writers) w.start();
    const health: { at: string; node: string; code: number | null; healthy: number; out: string }[] = [];
    let probe = 0;
    let watching = true;
    const healthLoop = (async () => {
      while (watching) {
        const n = set.nodes[probe++ % set.nodes.length]!;
        const r = await run('etcdctl', [
          `--endpoints=https://${n.address}:2379`, '--dial-timeout=3s', '--command-timeout=5s',
          `--cacert=${set.pki(n, 'ca.crt')}`, `--cert=${set.pki(n, 'etcdctl.crt')}`, `--key=${set.pki(n, 'etcdctl.key')}`,
          'endpoint', 'health', '--cluster',
        ], { ETCDCTL_API: '3' });
        health.push({ at: new Date().toISOString(), node: n.name, code: r.code, healthy: (r.out.match(/is healthy/g) ?? []).length, out: r.out.trim() });
        await new Promise((r) => setTimeout(r, 5000));
      }
    })();

    try {
      // `rounds` renewals each: the last comes at most rounds × (2/3 + 1/20) of the lifetime after enrollment.
      await waitFor(
        `every node's server certificate to have been renewed ${rounds} time(s) (${rounds + 1} distinct enddates)`,
        async () => {
          for (const n of set.nodes) seen.get(n.name)!.add(await enddate(n));
          return [...seen.values()].every((s) => s.size >= rounds + 1);
        },
        {
          timeoutMs: rounds * VALIDITY_MS + 90_000,
          intervalMs: 2000,
          describe: async () => `${[...seen].map(([k, v]) => `${k}: ${[...v].join(' | ')}`).join('\n')}\n${await set.describe()}`,
        },
      );
    } finally {
      watching = false;
      await healthLoop;
      for (const w of writers) await w.stop();
    }
    lag.disable();
    t.comment(`${rounds} renewal(s) on every node ${Math.round((Date.now() - formedAt) / 1000)} s after formation; this test process's event-loop delay: max ${Math.round(lag.max / 1e6)} ms, p99 ${Math.round(lag.percentile(99) / 1e6)} ms`);
    const renewedAt = set.nodes.flatMap((n) =>
      readFileSync(n.logFile, 'utf8').split('\n').filter((l) => l.includes('"renewed this node\'s certificates"')).map((l) => `${n.name} ${String((JSON.parse(l) as { time: string }).time)}`),
    );
    t.comment(`renewals: ${renewedAt.join(', ')}`);

    for (const [name, dates] of seen) t.ok(dates.size >= rounds + 1, `${name}: openssl x509 -enddate changed at least ${rounds} time(s) (${[...dates].join(' | ')})`);
    const windows = renewalWindows();
    t.ok(windows.length >= rounds * set.nodes.length && windows.length <= (rounds + 1) * set.nodes.length, `every renewal is in the logs, start and end (${windows.length}), and none more than due`);
    const iso = (ms: number): string => new Date(ms).toISOString();
    for (const [i, w] of writers.entries()) {
      const n = set.nodes[i]!;
      const longest = (list: { from: number; to: number }[]): number => Math.max(0, ...list.map((o) => o.to - o.from));
      const during = w.outages.filter((o) => windows.some((r) => o.from < r.to && o.to > r.from));
      t.ok(w.writes > 100, `${n.name}: ${w.writes} writes through it (slowest ${w.slowestWriteMs} ms), ${w.failures.length} failed`);
      t.ok(
        longest(during) <= MAX_OUTAGE_MS,
        `${n.name}: around the renewals, writes never failed for longer than ${MAX_OUTAGE_MS} ms (longest ${longest(during)} ms)`,
        { outages: during.map((o) => `${iso(o.from)} .. ${iso(o.to)}`), failures: w.failures },
      );
      t.same(w.failures.filter((f) => TLS_TROUBLE.test(f)), [], `${n.name}: no write ever failed on a certificate or TLS problem`);
      // Away from any renewal only the machine can make writes fail (seen here at load 15-25: all three writers at once,
      // minutes from a renewal); reported, and asserted with RENEWAL_STRICT=1 on a quiet machine.
      const elsewhere = w.outages.filter((o) => !during.includes(o));
      if (elsewhere.length > 0) t.comment(`${n.name}: outages away from any renewal: ${elsewhere.map((o) => `${iso(o.from)} (${o.to - o.from} ms)`).join(', ')}`);
      if (process.env.RENEWAL_STRICT === '1') t.ok(longest(w.outages) <= MAX_OUTAGE_MS, `${n.name}: (strict) no outage longer than ${MAX_OUTAGE_MS} ms at all`);
    }
    const bad = health.filter((h) => h.code !== 0 || h.healthy !== 3);
    t.ok(health.length >= 10, `${health.length} endpoint health --cluster checks`);
    t.same(bad, [], 'etcdctl endpoint health --cluster stayed healthy (3 of 3) throughout');
    t.same(set.nodes.map((n) => set.etcdPid(n)), etcdPids, 'etcd was never restarted: it picked the new certificates up by itself');

    for (const n of set.nodes) {
      const s = await set.status(n);
      const r = s.certificateRenewal;
      t.ok(r.renewals >= rounds, `${n.name}: /status counts ${r.renewals} renewals`);
      t.equal(r.lastError, null, `${n.name}: no renewal error`);
      t.equal(r.warning, null, `${n.name}: no expiry warning`);
      t.ok(s.ready, rounds >= 2 ? `${n.name}: ready with its first certificate long expired (the agent's own etcd client switched)` : `${n.name}: ready on its renewed certificate`);
      const server = s.certificates.find((c) => c.kind === 'server')!;
      t.ok(server.secondsLeft > 0 && server.renewAt !== null, `${n.name}: /status shows ${server.secondsLeft} s left, next renewal ${server.renewAt}`);
      t.comment(`${n.name}: last renewal ${JSON.stringify(r.lastRenewal)}`);
    }
  });
}
