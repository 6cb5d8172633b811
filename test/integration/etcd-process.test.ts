/**
 * Real etcd 3.4 under the process backend, with TLS from a throwaway openssl
 * CA, on 127.0.0.1 with unusual ports. The temp dir's name contains a blank
 * so quoting in etcd.conf / etcdctl.env is exercised end to end.
 *
 * The same file doubles as a stand-in "agent" process (EA_ETCD_CHILD_SPEC set)
 * that the stale-pid test kills with SIGKILL, leaving its etcd behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderEtcdConf } from '../../src/etcd/conf.js';
import { renderEtcdctlEnv } from '../../src/etcd/etcdctl-env.js';
import { endpointHealthy, endpointStatus, listMembers, type EtcdTls } from '../../src/etcd/client.js';
import { ProcessServiceManager } from '../../src/systemd/process-backend.js';
import type { ServiceSpec } from '../../src/systemd/service-manager.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { silentLogger } from '../../src/util/log.js';

const ETCD = '/usr/bin/etcd';
const ETCDCTL = '/usr/bin/etcdctl';
const OPENSSL = '/usr/bin/openssl';
const HOST = '127.0.0.1';
const CLIENT_PORT = 23791;
const PEER_PORT = 23801;
const ENDPOINT = `https://${HOST}:${CLIENT_PORT}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 20_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function must(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await run(cmd, args, cwd === undefined ? {} : { cwd });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 200): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= until) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** True while the process exists and is not a zombie (a zombie still answers kill(0)). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function killHard(pid: number | undefined): void {
  if (pid === undefined || pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function makePki(dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await must(OPENSSL, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=ea-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await writeFile(join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
    'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await writeFile(join(dir, 'client.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  for (const [name, cn, ext] of [['server', 'n1', 'server.ext'], ['etcdctl', 'etcdctl', 'client.ext']] as const) {
    await must(OPENSSL, ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    await must(OPENSSL, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial',
      `0x${Date.now().toString(16)}${name.length}`, '-days', '1', '-out', `${name}.crt`, '-extfile', ext], dir);
  }
}

interface Layout {
  dir: string;
  spec: ServiceSpec;
  envFile: string;
  etcdctlEnv: string;
}

/** The stand-in agent: start etcd through a manager, report, then idle until killed. */
async function childAgent(layout: Layout): Promise<void> {
  const m = new ProcessServiceManager(silentLogger(), { backoff: { initialMs: 60_000, maxMs: 60_000 } });
  await m.install(layout.spec);
  await m.start();
  process.stdout.write(`started ${m.status().pid ?? 0}\n`);
  setInterval(() => undefined, 60_000);
}

const childSpec = process.env.EA_ETCD_CHILD_SPEC;
if (childSpec !== undefined) {
  await childAgent(JSON.parse(childSpec) as Layout);
} else {
  await runTests();
}

async function runTests(): Promise<void> {
  const { default: t } = await import('tap');

  const managers: ProcessServiceManager[] = [];
  const children: ChildProcess[] = [];
  const pids = new Set<number>();
  const dir = await mkdtemp(join(tmpdir(), 'ea etcd-'));
  const pki = join(dir, 'pki');
  const workDir = join(dir, 'state');
  const dataDir = join(dir, 'data', 'demo');
  const envFile = join(dir, 'etc', 'etcd.conf');
  const etcdctlEnv = join(dir, 'etc', 'etcdctl.env');
  const pidFile = join(workDir, 'etcd.pid');
  const spec: ServiceSpec = { name: 'etcd', binary: ETCD, envFile, dataDir, workDir };

  t.teardown(async () => {
    for (const m of managers) await m.close().catch(() => undefined);
    for (const c of children) killHard(c.pid);
    for (const pid of pids) killHard(pid);
    try {
      killHard(Number((await readFile(pidFile, 'utf8')).trim()));
    } catch {
      // no pid file
    }
    // Any etcd still running with our data dir (e.g. left by a failed stale-pid test).
    const ps = await run('/usr/bin/pgrep', ['-f', '^/usr/bin/etcd$']);
    for (const line of ps.stdout.split('\n')) {
      const pid = Number(line.trim());
      if (!Number.isSafeInteger(pid) || pid <= 1) continue;
      try {
        if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`ETCD_DATA_DIR=${dataDir}`)) killHard(pid);
      } catch {
        // gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  const track = (m: ProcessServiceManager): ProcessServiceManager => {
    managers.push(m);
    return m;
  };
  const remember = (pid: number | undefined): number => {
    if (pid === undefined) throw new Error('no pid');
    pids.add(pid);
    return pid;
  };

  const tls: EtcdTls = { caPem: '', certPem: '', keyPem: '' };
  await t.test('set-up: throwaway CA and certificates (openssl), etcd.conf, etcdctl.env', async (t) => {
    await mkdir(pki, { recursive: true });
    await makePki(pki);
    tls.caPem = await readFile(join(pki, 'ca.crt'), 'utf8');
    tls.certPem = await readFile(join(pki, 'etcdctl.crt'), 'utf8');
    tls.keyPem = await readFile(join(pki, 'etcdctl.key'), 'utf8');
    const peerUrl = `https://${HOST}:${PEER_PORT}`;
    await writeFileAtomic(
      envFile,
      renderEtcdConf({
        name: 'n1',
        dataDir,
        listenClientUrls: [ENDPOINT],
        advertiseClientUrls: [ENDPOINT],
        listenPeerUrls: [peerUrl],
        initialAdvertisePeerUrls: [peerUrl],
        initialCluster: [{ name: 'n1', peerUrl }],
        initialClusterToken: 'ea-test-token',
        initialClusterState: 'new',
        tls: { caFile: join(pki, 'ca.crt'), certFile: join(pki, 'server.crt'), keyFile: join(pki, 'server.key') },
      }),
    );
    await writeFileAtomic(
      etcdctlEnv,
      renderEtcdctlEnv({
        endpoints: [ENDPOINT],
        caFile: join(pki, 'ca.crt'),
        certFile: join(pki, 'etcdctl.crt'),
        keyFile: join(pki, 'etcdctl.key'),
        path: etcdctlEnv,
      }),
    );
    t.match(await readFile(envFile, 'utf8'), /^ETCD_DATA_DIR=".* etcd-.*"$/m, 'paths with a blank are quoted');
  });
  const etcdctlTls = ['--cacert', join(pki, 'ca.crt'), '--cert', join(pki, 'etcdctl.crt'), '--key', join(pki, 'etcdctl.key')];
  const ctlEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' };

  const healthy = (what: string, ms = 30_000): Promise<true> =>
    waitFor(what, ms, async () => ((await endpointHealthy(ENDPOINT, tls, 2000)).healthy ? true : undefined), 100);

  const m1 = track(new ProcessServiceManager(silentLogger(), { stopTimeoutMs: 5000, backoff: { initialMs: 500, maxMs: 2000 } }));

  await t.test('starts a TLS etcd that becomes healthy', async (t) => {
    t.same(await m1.install(spec), { changed: true });
    await m1.enable();
    const t0 = Date.now();
    await m1.start();
    const pid = remember(m1.status().pid);
    t.equal(m1.status().state, 'active');
    t.equal((await readFile(pidFile, 'utf8')).trim(), String(pid), 'pid file names the child');
    await m1.start();
    t.equal(m1.status().pid, pid, 'start() when running is a no-op');
    await healthy('etcd to become healthy');
    t.comment(`etcd healthy ${Date.now() - t0} ms after start()`);
    t.equal((await m1.refreshStatus()).state, 'active');
    t.ok(m1.status().recentLog.length > 0, 'etcd output is captured');
    t.ok((await stat(join(workDir, 'etcd.log'))).size > 0, 'etcd.log is written');
    t.notOk(m1.status().recentLog.some((l) => /--data-dir|ETCD_DATA_DIR.*(not|unrecognized)/.test(l) && /error/i.test(l)));
  });

  await t.test('client API agrees with etcdctl', async (t) => {
    const list = await listMembers([ENDPOINT], tls, 5000);
    t.equal(list.members.length, 1);
    const me = list.members[0]!;
    t.equal(me.name, 'n1');
    t.match(me.id, /^[0-9a-f]+$/);
    t.not(me.id.startsWith('0'), true, 'no leading zeros');
    t.same(me.peerUrls, [`https://${HOST}:${PEER_PORT}`]);
    t.same(me.clientUrls, [ENDPOINT]);
    t.equal(me.isLearner, false);
    t.match(list.clusterId, /^[1-9a-f][0-9a-f]*$/);

    const json = await must(ETCDCTL, ['--endpoints', ENDPOINT, ...etcdctlTls, 'member', 'list', '-w', 'json']);
    // uint64 ids do not survive JSON.parse: take the digits from the text.
    const ctlId = /"members":\[\{"ID":(\d+)/.exec(json)?.[1];
    const ctlCluster = /"cluster_id":(\d+)/.exec(json)?.[1];
    t.ok(ctlId, `etcdctl printed a member id: ${json}`);
    t.equal(me.id, BigInt(ctlId ?? '0').toString(16), 'member id matches etcdctl (decimal JSON → hex)');
    t.equal(list.clusterId, BigInt(ctlCluster ?? '0').toString(16), 'cluster id matches etcdctl');
    const simple = await must(ETCDCTL, ['--endpoints', ENDPOINT, ...etcdctlTls, 'member', 'list']);
    t.match(simple, new RegExp(`^${me.id}, started, n1, `, 'm'), 'same hex as etcdctl prints');

    const st = await endpointStatus(ENDPOINT, tls, 5000);
    t.equal(st.endpoint, ENDPOINT);
    t.not(st.leaderId, '0', 'there is a leader');
    t.equal(st.leaderId, me.id, 'the only member leads');
    t.equal(st.memberId, me.id);
    t.equal(st.clusterId, list.clusterId);
    t.match(st.version, /^3\.4\./);
    t.ok(st.dbSizeBytes > 0);
    t.ok(Number(st.raftTerm) >= 1);
  });

  await t.test('etcdctl.env works from a shell (quoted paths)', async (t) => {
    const r = await run('/bin/sh', ['-c', 'set -a; . "$1"; set +a; exec etcdctl endpoint health', 'sh', etcdctlEnv], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout + r.stderr, /is healthy/);
  });

  await t.test('clients without a valid certificate are refused', async (t) => {
    const t0 = Date.now();
    const r = await run(
      ETCDCTL,
      ['--endpoints', ENDPOINT, '--cacert', join(pki, 'ca.crt'), '--dial-timeout', '2s', '--command-timeout', '3s', 'endpoint', 'health'],
      { env: ctlEnv, timeoutMs: 20_000 },
    );
    t.not(r.code, 0, 'etcdctl without --cert fails');
    t.ok(Date.now() - t0 < 20_000, 'within the bound');

    // Our own client with a certificate from another CA: unhealthy, with a reason, within the bound.
    const otherDir = join(dir, 'other-pki');
    await mkdir(otherDir, { recursive: true });
    await makePki(otherDir);
    const foreign: EtcdTls = {
      caPem: tls.caPem,
      certPem: await readFile(join(otherDir, 'etcdctl.crt'), 'utf8'),
      keyPem: await readFile(join(otherDir, 'etcdctl.key'), 'utf8'),
    };
    const t1 = Date.now();
    const h = await endpointHealthy(ENDPOINT, foreign, 2000);
    t.equal(h.healthy, false);
    t.match(h.reason, /127\.0\.0\.1:23791.*rejected our client certificate/);
    t.ok(Date.now() - t1 < 5000, `answered in ${Date.now() - t1} ms`);
    t.comment(`foreign cert: ${h.reason}`);

    const t2 = Date.now();
    await t.rejects(listMembers([`https://${HOST}:1`], tls, 1500), { code: 'EA_ETCD_UNREACHABLE', message: /127\.0\.0\.1:1\b/ });
    t.ok(Date.now() - t2 < 5000, `closed port answered in ${Date.now() - t2} ms`);
  });

  await t.test('a silent endpoint (accepts TCP, never speaks TLS): bounded, and no socket left open', async (t) => {
    const accepted: Socket[] = [];
    let closed = 0;
    const srv = createServer((sock) => {
      accepted.push(sock);
      sock.resume();
      sock.on('close', () => (closed += 1));
    });
    await new Promise<void>((r) => srv.listen(0, HOST, () => r()));
    t.teardown(() => {
      for (const sock of accepted) sock.destroy();
      srv.close();
    });
    const port = (srv.address() as AddressInfo).port;
    const t0 = Date.now();
    await t.rejects(endpointStatus(`https://${HOST}:${port}`, tls, 1000), { code: 'EA_ETCD_UNREACHABLE', message: /no answer within 1000 ms/ });
    t.ok(Date.now() - t0 < 3000, `gave up after ${Date.now() - t0} ms`);
    const h = await endpointHealthy(`https://${HOST}:${port}`, tls, 1000);
    t.equal(h.healthy, false);
    await waitFor('our side to close every connection', 3000, () => (accepted.length > 0 && closed === accepted.length ? true : undefined), 20);
    t.pass(`${accepted.length} connections, all closed`);
  });

  await t.test('a killed etcd is restarted', async (t) => {
    const before = remember(m1.status().pid);
    const restarts = m1.status().restarts;
    process.kill(before, 'SIGKILL');
    const detail = await waitFor('the exit to be noticed', 5000, () => (m1.status().pid !== before ? m1.status().detail : undefined), 10);
    // The delay doubles with each restart in a row (500 ms for the first); an earlier subtest may have caused one on a loaded machine.
    t.match(detail, restarts === 0 ? /killed by signal SIGKILL at .*; restarting in 500 ms/ : /killed by signal SIGKILL at .*; restarting in \d+ (ms|s)/);
    await waitFor('a restart', 10_000, () => (m1.status().restarts > restarts && m1.status().pid !== undefined ? true : undefined), 50);
    const after = remember(m1.status().pid);
    t.not(after, before);
    t.equal(m1.status().restarts, restarts + 1);
    await healthy('etcd healthy again after the restart');
    t.equal((await readFile(pidFile, 'utf8')).trim(), String(after));
    t.match(m1.status().detail, new RegExp(`^running as pid ${after} since .*restarted ${restarts + 1}× so far; last exit: killed by signal SIGKILL at `));
    t.ok(m1.status().recentLog.some((l) => l.includes(`pid ${before} killed by signal SIGKILL unexpectedly`)));
  });

  await t.test('stop() stops for good', async (t) => {
    const pid = remember(m1.status().pid);
    await m1.stop();
    t.equal(m1.status().state, 'inactive');
    t.equal(m1.status().pid, undefined);
    t.notOk(alive(pid), 'process is gone');
    t.match(m1.status().detail, /after a requested stop/);
    await new Promise((r) => setTimeout(r, 1500)); // longer than the 500 ms backoff
    t.equal(m1.status().state, 'inactive', 'not restarted');
    t.equal((await m1.refreshStatus()).state, 'inactive');
    await t.rejects(stat(pidFile), { code: 'ENOENT' }, 'pid file removed');
    t.equal((await endpointHealthy(ENDPOINT, tls, 1000)).healthy, false);
    await m1.stop(); // idempotent
  });

  await t.test('restart() and a fresh manager after the agent was killed -9', async (t) => {
    // restart() on a stopped manager starts it.
    await m1.restart();
    remember(m1.status().pid);
    await healthy('etcd healthy after restart()');
    const viaRestart = remember(m1.status().pid);
    await m1.restart();
    t.not(m1.status().pid, viaRestart, 'restart() replaced the process');
    remember(m1.status().pid);
    await m1.close();
    t.notOk(alive(viaRestart));

    // A stand-in agent in its own process starts etcd, then dies with SIGKILL.
    const self = fileURLToPath(import.meta.url);
    const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
    const layout: Layout = { dir, spec, envFile, etcdctlEnv };
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, EA_ETCD_CHILD_SPEC: JSON.stringify(layout) };
    for (const [k, v] of Object.entries(process.env)) if (k.startsWith('TS_NODE_') || k === 'TAP_TYPE_STRIP_ONLY') env[k] = v;
    const agent = spawn(process.execPath, [...loader, self], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(agent);
    let out = '';
    let err = '';
    agent.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const oldPid = await waitFor('the stand-in agent to start etcd', 60_000, () => {
      if (agent.exitCode !== null) throw new Error(`stand-in agent exited ${agent.exitCode}: ${err}`);
      const m = /started (\d+)/.exec(out);
      return m ? Number(m[1]) : undefined;
    });
    pids.add(oldPid);
    await healthy('the stand-in agent\'s etcd to become healthy');
    agent.kill('SIGKILL');
    await waitFor('the stand-in agent to die', 5000, () => (agent.exitCode !== null || agent.signalCode !== null ? true : undefined), 20);
    t.ok(alive(oldPid), 'its etcd survives the agent and keeps the ports');
    t.equal((await readFile(pidFile, 'utf8')).trim(), String(oldPid));

    const m2 = track(new ProcessServiceManager(silentLogger(), { stopTimeoutMs: 5000 }));
    await m2.install(spec);
    const t0 = Date.now();
    await m2.start();
    const newPid = remember(m2.status().pid);
    t.notOk(alive(oldPid), 'the old etcd was terminated');
    t.not(newPid, oldPid);
    t.ok(m2.status().recentLog.some((l) => l.includes(`terminating etcd pid ${oldPid}`)), 'and that is in the log');
    await healthy('the new etcd to become healthy');
    t.comment(`replacement etcd healthy ${Date.now() - t0} ms after start()`);
    t.equal((await readFile(pidFile, 'utf8')).trim(), String(newPid));
    await m2.close();
    t.notOk(alive(newPid));
  });

  await t.test('a pid file naming an unrelated process is left alone', async (t) => {
    const sleeper = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    children.push(sleeper);
    const pid = remember(sleeper.pid);
    await writeFile(pidFile, `${pid}\n`);
    const m3 = track(new ProcessServiceManager(silentLogger(), { stopTimeoutMs: 5000 }));
    await m3.install(spec);
    await m3.start();
    remember(m3.status().pid);
    t.ok(alive(pid), 'the unrelated process still runs');
    await healthy('etcd healthy next to the unrelated pid');
    await m3.close();
    sleeper.kill('SIGKILL');
  });

  await t.test('crash loop backs off and says why; stop ends it', async (t) => {
    const bin = join(dir, 'crashy');
    await writeFile(bin, '#!/bin/sh\necho "crashy: $ETCD_NAME starting"\nexit 3\n', { mode: 0o755 });
    const m4 = track(new ProcessServiceManager(silentLogger(), { backoff: { initialMs: 100, maxMs: 400 } }));
    await m4.install({ ...spec, binary: bin, workDir: join(dir, 'crashy-state') });
    await m4.start();
    let seen = m4.status();
    const s = await waitFor(
      'three restarts',
      10_000,
      () => {
        const st = m4.status();
        seen = st;
        return st.restarts >= 3 && st.state === 'activating' ? st : undefined;
      },
      5,
    ).catch((err: unknown) => {
      // Seen once under heavy CI load: say what the manager last reported.
      throw new Error(`${String(err)}; last status: ${JSON.stringify({ ...seen, recentLog: seen.recentLog.slice(-5) })}`);
    });
    t.match(s.detail, /exited with code 3 at .*; restarting in (400|200) ms/);
    t.ok(s.recentLog.includes('crashy: n1 starting'), 'output captured with the env from etcd.conf');
    await m4.stop();
    const n = m4.status().restarts;
    await new Promise((r) => setTimeout(r, 800));
    t.equal(m4.status().restarts, n, 'no restart after stop');
    t.equal(m4.status().state, 'inactive');
  });

  await t.test('a child that ignores SIGTERM is killed after stopTimeoutMs', async (t) => {
    const bin = join(dir, 'stubborn');
    await writeFile(bin, '#!/bin/sh\ntrap "" TERM\necho ready\nwhile :; do sleep 0.1; done\n', { mode: 0o755 });
    const m5 = track(new ProcessServiceManager(silentLogger(), { stopTimeoutMs: 300 }));
    await m5.install({ ...spec, binary: bin, workDir: join(dir, 'stubborn-state') });
    await m5.start();
    const pid = remember(m5.status().pid);
    await waitFor('the trap to be set', 5000, () => (m5.status().recentLog.includes('ready') ? true : undefined), 20);
    const t0 = Date.now();
    await m5.stop();
    t.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms`);
    t.notOk(alive(pid));
    t.match(m5.status().detail, /killed by signal SIGKILL .*after a requested stop; it ignored SIGTERM/);
  });
}
