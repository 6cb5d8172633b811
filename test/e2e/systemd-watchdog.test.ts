/**
 * systemd's watchdog restarts a hung agent: etcd-agent.service has
 * WatchdogSec=30s and the agent pings WATCHDOG=1 only while its main loop
 * runs. A test-only hook (ETCD_AGENT_TEST_HOOKS=block-loop-on-sigusr2, set by a
 * drop-in) makes SIGUSR2 block the event loop forever; systemd must then kill
 * and restart the agent (NRestarts grows, new MainPID), and the restarted
 * agent resumes where it was.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { SystemdTestBed, requireSystemdHosts, type SystemdHost } from '../helpers/nspawn.js';
import { waitFor } from '../helpers/wait.js';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from '../helpers/fixtures.js';

/** One compiled module of the agent (dist/, from tsc) with what it imports, as one ESM file: scripts/bundle.mjs with that entry. */
function bundleModule(entry: string): string {
  const dir = tempDir(t, 'ea-probe-bundle-');
  const outdir = join(dir, 'bundle');
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'bundle.mjs'), '--entry', entry, '--outdir', outdir, '--metafile', join(dir, 'meta.json')], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`bundling ${entry} failed: ${r.stderr}`);
  const chunks = readdirSync(outdir).filter((f) => f.endsWith('.js') && f !== 'etcd-agent.js');
  if (chunks.length > 0) throw new Error(`bundling ${entry} made chunks (${chunks.join(', ')}); the probe copies one file`);
  return readFileSync(join(outdir, 'etcd-agent.js'), 'utf8');
}

t.setTimeout(300_000);

async function show(h: SystemdHost, unit: string, ...props: string[]): Promise<Record<string, string>> {
  const r = await h.exec(['systemctl', 'show', unit, '-p', props.join(',')]);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

if (requireSystemdHosts(t)) {
  const bed = await SystemdTestBed.create(t, { prefix: 'easw', subnet: 232, hosts: 1 });
  const h = bed.hosts[0]!;

  t.test('a hung agent is restarted by the systemd watchdog', async (t) => {
    await bed.bootAll();
    // A cluster of 3 whose only seed never answers: the agent stays in `discovering`, which is all this test needs.
    await h.exec([
      'etcd-agent', 'init', '--cluster', 'wd', '--size', '3', `--token=${randomBytes(24).toString('base64url')}`,
      '--name', h.name, '--advertise-address', h.address!, '--no-mdns', '--seeds', '10.232.0.99',
    ]);
    await h.writeFile('/etc/systemd/system/etcd-agent.service.d/test-hooks.conf', '[Service]\nEnvironment=ETCD_AGENT_TEST_HOOKS=block-loop-on-sigusr2\n');
    await h.exec(['systemctl', 'daemon-reload']);
    await h.exec(['systemctl', 'start', 'etcd-agent'], { timeoutMs: 90_000 });
    const before = await show(h, 'etcd-agent', 'MainPID', 'NRestarts', 'ActiveState', 'WatchdogUSec', 'StatusText');
    t.equal(before.ActiveState, 'active');
    t.equal(before.WatchdogUSec, '30s', 'WatchdogSec=30s from the shipped unit');
    t.match(before.StatusText, /^(starting|discovering): /, `STATUS= carries the phase from READY on (${before.StatusText})`);
    const discovering = await waitFor('STATUS= to say discovering', async () => {
      const text = (await show(h, 'etcd-agent', 'StatusText')).StatusText ?? '';
      return text.startsWith('discovering: ') ? text : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    t.pass(`StatusText: ${discovering}`);
    const healthz = await h.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:2391/healthz']);
    t.equal(healthz.stdout, '200');

    const blocked = Date.now();
    await h.exec(['systemctl', 'kill', '-s', 'USR2', 'etcd-agent']);
    // The loop is blocked: the status API stops answering at once.
    const hung = await h.exec(['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:2391/healthz'], { check: false });
    t.not(hung.stdout, '200', 'the blocked agent no longer answers /healthz');

    const after = await waitFor(
      'systemd to restart the hung agent',
      async () => {
        const now = await show(h, 'etcd-agent', 'MainPID', 'NRestarts', 'ActiveState');
        return Number(now.NRestarts) > Number(before.NRestarts) && now.ActiveState === 'active' && now.MainPID !== before.MainPID ? now : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000, describe: () => h.journal('etcd-agent', 20) },
    );
    const took = Math.round((Date.now() - blocked) / 1000);
    t.pass(`restarted after ${took} s: NRestarts ${before.NRestarts} → ${after.NRestarts}, MainPID ${before.MainPID} → ${after.MainPID}`);
    t.ok(took >= 25, 'not before the watchdog interval ran out');
    const journal = await h.exec(['journalctl', '-u', 'etcd-agent', '--no-pager', '-o', 'cat'], { check: false });
    t.match(journal.stdout, /Watchdog timeout/, 'the journal says why: watchdog timeout');
    await waitFor(
      'the restarted agent to answer /healthz',
      async () => (await h.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:2391/healthz'], { check: false })).stdout === '200',
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  t.test('inside the agent\'s sandbox, the etcd account is still created (through PID 1)', async (t) => {
    if (!h.running) await bed.bootAll();
    // The shipped unit's sandbox around a one-shot script instead of the daemon.
    const shipped = (await h.readFile('/usr/lib/systemd/system/etcd-agent.service'))!;
    const probe = (exec: string): string =>
      shipped
        .split('\n')
        .filter((l) => !/^(NotifyAccess|WatchdogSec|Restart|RestartSec)=/.test(l))
        .map((l) => (l === 'Type=notify' ? 'Type=oneshot' : l.startsWith('ExecStart=') ? `ExecStart=${exec}` : l))
        .join('\n');
    // The installed agent is one bundle; the probe gets the same module, bundled on its own.
    await h.writeFile('/usr/local/lib/ea-service-account.mjs', bundleModule(join(REPO, 'dist', 'systemd', 'service-account.js')));
    await h.writeFile('/usr/local/lib/ea-account-probe.mjs', [
      "const m = await import('/usr/local/lib/ea-service-account.mjs');",
      "console.log(JSON.stringify(await m.ensureServiceAccount('eaprobe', 'eaprobe')));",
    ].join('\n'));
    await h.writeFile('/etc/systemd/system/ea-account-probe.service', probe('/usr/lib/etcd-agent/node /usr/local/lib/ea-account-probe.mjs'));
    await h.writeFile('/etc/systemd/system/ea-useradd-probe.service', probe('/usr/sbin/useradd --system eadirect'));
    await h.exec(['systemctl', 'daemon-reload']);

    const direct = await h.exec(['systemctl', 'start', 'ea-useradd-probe'], { check: false, timeoutMs: 60_000 });
    t.not(direct.code, 0, 'plain useradd fails inside the sandbox (/etc is read-only)');
    t.match(await h.journal('ea-useradd-probe', 10), /cannot lock|Read-only file system/, 'useradd says why');

    const viaPid1 = await h.exec(['systemctl', 'start', 'ea-account-probe'], { check: false, timeoutMs: 60_000 });
    t.equal(viaPid1.code, 0, `ensureServiceAccount from the sandbox: ${viaPid1.output}${await h.journal('ea-account-probe', 10)}`);
    const entry = await h.exec(['getent', 'passwd', 'eaprobe'], { check: false });
    t.match(entry.stdout, /^eaprobe:x:\d+:\d+:etcd \(created by etcd-agent\):\/var\/lib\/etcd:\/usr\/sbin\/nologin$/m, 'a system user with no login');
    t.equal((await h.exec(['getent', 'group', 'eaprobe'], { check: false })).code, 0, 'and its group');
  });
}
