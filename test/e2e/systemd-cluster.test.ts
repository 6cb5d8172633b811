/**
 * etcd-agent on hosts that boot systemd (systemd-nspawn, one network
 * namespace each), with Debian's etcd-server installed — and therefore its
 * single-node etcd autostarted — before the agent runs, as on a real machine.
 *
 * 1. `systemctl start etcd-agent` on three hosts at once → one TLS cluster,
 *    etcd running as the unit the agent wrote, STATUS= in systemctl status,
 *    etcd.conf says existing.
 * 4. Debian's single node is neither a member nor the data dir of the cluster.
 * 2. `systemctl kill -s KILL etcd`: systemd restarts it, the member rejoins,
 *    /readyz 503 → 200, no re-bootstrap.
 * 3. A host reboots from its persistent disk: same member, same data, existing.
 *
 * The subtests build on each other (one cluster); each wait is bounded.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { SystemdTestBed, requireSystemdHosts, type SystemdHost } from '../helpers/nspawn.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(600_000);

const CLUSTER = 'sdc';
const DATA_DIR = `/var/lib/etcd/${CLUSTER}`;

/** HTTP status of the agent's local status API inside a host ('000' when nothing answers). */
async function readyz(h: SystemdHost): Promise<string> {
  const r = await h.exec(['curl', '-s', '-o', '/dev/null', '-m', '2', '-w', '%{http_code}', 'http://127.0.0.1:2391/readyz'], { check: false, timeoutMs: 10_000 });
  return r.stdout.trim();
}

interface AgentStatus {
  phase: string;
  reason: string;
  localMemberId: string | null;
  cluster: { id: string | null; state: string };
  members: { name: string; id: string; healthy: boolean }[];
  etcdService: { manager: string; state: string; detail: string; restarts: number; pid?: number };
}

async function status(h: SystemdHost): Promise<AgentStatus> {
  const r = await h.exec(['curl', '-sf', '-m', '5', 'http://127.0.0.1:2391/status'], { timeoutMs: 15_000 });
  return JSON.parse(r.stdout) as AgentStatus;
}

/** etcdctl as the node's admin client (TLS, through /etc/etcd/etcdctl.env). */
function etcdctl(h: SystemdHost, args: string, options: { endpoint?: string } = {}): ReturnType<SystemdHost['exec']> {
  // etcdctl refuses --endpoints next to ETCDCTL_ENDPOINTS: override the variable instead.
  const only = options.endpoint ? `ETCDCTL_ENDPOINTS=${options.endpoint}; ` : '';
  return h.sh(`set -a; . /etc/etcd/etcdctl.env; ${only}set +a; etcdctl --command-timeout=10s ${args}`, { timeoutMs: 30_000 });
}

async function show(h: SystemdHost, unit: string, ...props: string[]): Promise<Record<string, string>> {
  const r = await h.exec(['systemctl', 'show', unit, '-p', props.join(',')]);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** sha256 of every file the agent keeps in its state dir: they must not change after formation. */
async function stateDigest(h: SystemdHost): Promise<string> {
  const r = await h.sh('cd /var/lib/etcd-agent && find . -type f | sort | xargs sha256sum');
  return r.stdout;
}

async function diagnose(hosts: SystemdHost[]): Promise<string> {
  const parts: string[] = [];
  for (const h of hosts) {
    if (!h.running) {
      parts.push(`--- ${h.name}: not running`);
      continue;
    }
    const s = await h.exec(['curl', '-s', '-m', '2', 'http://127.0.0.1:2391/status'], { check: false });
    parts.push(`--- ${h.name} /status: ${s.stdout.slice(0, 1500)}`);
    parts.push(`--- ${h.name} etcd-agent: ${await h.journal('etcd-agent', 25)}`);
    parts.push(`--- ${h.name} etcd: ${await h.journal('etcd', 15)}`);
  }
  return parts.join('\n');
}

if (requireSystemdHosts(t)) {
  const bed = await SystemdTestBed.create(t, { prefix: 'easc', subnet: 231, hosts: 3 });
  const hosts = bed.hosts;
  const [h1, h2, h3] = hosts as [SystemdHost, SystemdHost, SystemdHost];
  const token = randomBytes(24).toString('base64url');
  const debian: { memberId: string; name: string } = { memberId: '', name: '' };

  t.before(async () => {
    const booted = Date.now();
    await bed.bootAll();
    t.comment(`3 hosts booted in ${Date.now() - booted} ms`);

    // Debian's etcd-server enabled and started its single node, as it does on any machine.
    for (const h of hosts) {
      const active = await h.exec(['systemctl', 'is-active', 'etcd'], { check: false });
      if (active.stdout.trim() !== 'active') throw new Error(`${h.name}: Debian's etcd is not running before the agent:\n${await h.journal('etcd')}`);
    }
    await h1.exec(['etcdctl', '--endpoints=http://127.0.0.1:2379', 'put', 'debian-single-node', 'was-here']);
    const ml = await h1.exec(['etcdctl', '--endpoints=http://127.0.0.1:2379', 'member', 'list', '-w', 'json']);
    const member = (JSON.parse(ml.stdout) as { members: { ID: number | string; name: string }[] }).members[0]!;
    debian.memberId = BigInt(member.ID).toString(16);
    debian.name = member.name;

    for (const h of hosts) {
      const seeds = hosts.filter((o) => o !== h).map((o) => o.address).join(',');
      await h.exec([
        'etcd-agent', 'init', '--cluster', CLUSTER, '--size', '3', `--token=${token}`, '--name', h.name,
        '--advertise-address', h.address!, '--seeds', seeds, '--no-mdns',
      ]);
      await h.exec(['systemctl', 'enable', 'etcd-agent']);
    }
    const started = Date.now();
    // All three at once; each start returns at READY (APIs listening), long before the cluster forms.
    await Promise.all(hosts.map((h) => h.exec(['systemctl', 'start', 'etcd-agent'], { timeoutMs: 90_000 })));
    await waitFor(
      'all three agents ready (/readyz 200)',
      async () => (await Promise.all(hosts.map(readyz))).every((c) => c === '200'),
      { timeoutMs: 120_000, intervalMs: 500, describe: () => diagnose(hosts) },
    );
    t.comment(`formation under systemd: ${Date.now() - started} ms from 'systemctl start etcd-agent' to all ready`);
  });

  t.test('1: three systemd hosts form one TLS cluster; etcd runs as the unit the agent wrote', async (t) => {
    for (const h of hosts) {
      const active = await h.exec(['systemctl', 'is-active', 'etcd', 'etcd-agent'], { check: false });
      t.same(active.stdout.trim().split('\n'), ['active', 'active'], `${h.name}: etcd and etcd-agent active`);
      const unit = await h.readFile('/etc/systemd/system/etcd.service');
      t.match(unit, /^# etcd\.service — written by etcd-agent/, `${h.name}: /etc/systemd/system/etcd.service is ours`);
      const etcd = await show(h, 'etcd', 'FragmentPath', 'User', 'Type', 'MainPID', 'EnvironmentFiles');
      t.equal(etcd.FragmentPath, '/etc/systemd/system/etcd.service', 'systemd loaded our unit, not /lib/systemd/system/etcd.service');
      t.equal(etcd.User, 'etcd');
      t.equal(etcd.Type, 'notify');
      t.equal(etcd.EnvironmentFiles, '/etc/etcd/etcd.conf (ignore_errors=no)', 'no /etc/default/etcd');
      const owner = await h.exec(['ps', '-o', 'user=', '-p', etcd.MainPID!]);
      t.equal(owner.stdout.trim(), 'etcd', `${h.name}: etcd runs as the etcd user`);

      const agentStatus = await h.exec(['systemctl', 'status', 'etcd-agent', '--no-pager', '-n', '0'], { check: false });
      t.match(agentStatus.stdout, /Status: "formed: /, `${h.name}: systemctl status shows the phase (STATUS=)`);
      t.match(await h.readFile('/etc/etcd/etcd.conf'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m, `${h.name}: etcd.conf says existing`);

      const perms = await h.sh(`stat -c '%n %U:%G %a' ${DATA_DIR} /etc/etcd/pki/server.key /etc/etcd/pki/etcdctl.key /var/lib/etcd-agent`);
      t.same(perms.stdout.trim().split('\n'), [
        `${DATA_DIR} etcd:etcd 700`,
        '/etc/etcd/pki/server.key etcd:etcd 600',
        '/etc/etcd/pki/etcdctl.key root:root 600',
        '/var/lib/etcd-agent root:root 700',
      ], `${h.name}: ownership and modes`);

      // systemd marks etcd active when etcd's READY=1 arrives, which can trail the
      // first healthy answer by a moment; the agent's snapshot follows its next poll.
      const s = await waitFor(`${h.name}: /status shows etcd.service active`, async () => {
        const r = await status(h);
        return r.etcdService.state === 'active' ? r : undefined;
      }, { timeoutMs: 20_000, intervalMs: 500 });
      t.equal(s.etcdService.manager, 'systemd', `${h.name}: /status says the systemd backend runs etcd`);
      t.equal(s.etcdService.state, 'active');
    }
    const health = await etcdctl(h1, 'endpoint health --cluster');
    t.equal((health.output.match(/is healthy/g) ?? []).length, 3, `three healthy members over TLS\n${health.output}`);
    await etcdctl(h1, 'put sd-key through-host1');
    t.equal((await etcdctl(h3, 'get sd-key --print-value-only')).stdout.trim(), 'through-host1', 'replicated to host3');
    const anonymous = await h1.exec(['etcdctl', `--endpoints=https://${h1.address}:2379`, '--insecure-skip-tls-verify', '--command-timeout=3s', 'get', 'sd-key'], { check: false });
    t.not(anonymous.code, 0, 'a client without a certificate is refused');
  });

  t.test('both units verify cleanly where they are installed; security exposure', async (t) => {
    const v = await h1.exec(['systemd-analyze', 'verify', '--man=no', '/etc/systemd/system/etcd.service', '/usr/lib/systemd/system/etcd-agent.service'], { check: false });
    t.equal(v.code, 0, `systemd-analyze verify: ${v.output}`);
    t.equal(v.stderr.trim(), '', 'no warnings');
    const sec = await h1.exec(['systemd-analyze', 'security', '--no-pager', 'etcd.service', 'etcd-agent.service'], { check: false });
    t.comment(`systemd-analyze security (online, in the container): ${sec.stdout.trim().split('\n').filter((l) => /^(UNIT|etcd)/.test(l)).join(' | ')}`);
  });

  t.test('4: Debian\'s autostarted single node is neither a member nor the data dir', async (t) => {
    const list = await etcdctl(h1, 'member list -w json');
    const members = (JSON.parse(list.stdout) as { members: { ID: number | string; name: string; peerURLs: string[] }[] }).members;
    t.same(members.map((m) => m.name).sort(), ['host1', 'host2', 'host3']);
    t.notOk(members.some((m) => BigInt(m.ID).toString(16) === debian.memberId), `Debian's member ${debian.memberId} is not in the cluster`);
    t.ok(members.every((m) => m.peerURLs.every((u) => u.startsWith('https://10.231.0.'))), 'peer URLs are the hosts\' TLS addresses');
    const marker = await etcdctl(h1, 'get debian-single-node --print-value-only');
    t.equal(marker.stdout.trim(), '', 'the single node\'s data is not in the new cluster');
    for (const h of hosts) {
      const env = await h.sh('tr "\\0" "\\n" < /proc/$(systemctl show -p MainPID --value etcd)/environ | grep ^ETCD_DATA_DIR=');
      t.equal(env.stdout.trim(), `ETCD_DATA_DIR=${DATA_DIR}`, `${h.name}: etcd runs on ${DATA_DIR}`);
      const etcds = await h.exec(['pgrep', '-c', '-x', 'etcd'], { check: false });
      t.equal(etcds.stdout.trim(), '1', `${h.name}: one etcd process (Debian's was replaced)`);
      const leftover = await h.exec(['test', '-d', '/var/lib/etcd/default/member'], { check: false });
      t.equal(leftover.code, 0, `${h.name}: Debian's data dir is left alone (not reused, not deleted)`);
    }
  });

  t.test('2: systemctl kill -s KILL etcd → systemd restarts it, the member rejoins, no re-bootstrap', async (t) => {
    const before = { digest: await stateDigest(h2), status: await status(h2), etcd: await show(h2, 'etcd', 'MainPID', 'NRestarts') };
    const conf = await h2.readFile('/etc/etcd/etcd.conf');
    t.ok(before.status.localMemberId, 'member id known');
    const killed = Date.now();
    await h2.exec(['systemctl', 'kill', '-s', 'KILL', 'etcd']);
    await waitFor('/readyz 503 on host2 after etcd was killed', async () => (await readyz(h2)) === '503', {
      timeoutMs: 30_000,
      intervalMs: 200,
      describe: () => diagnose([h2]),
    });
    t.pass(`/readyz went 503 ${Date.now() - killed} ms after the kill`);
    await waitFor('/readyz 200 on host2 again', async () => (await readyz(h2)) === '200', {
      timeoutMs: 90_000,
      intervalMs: 500,
      describe: () => diagnose([h2]),
    });
    t.pass(`/readyz 200 again ${Date.now() - killed} ms after the kill`);
    const after = await show(h2, 'etcd', 'MainPID', 'NRestarts', 'ActiveState');
    t.equal(after.ActiveState, 'active');
    t.not(after.MainPID, before.etcd.MainPID, 'a new etcd process');
    t.ok(Number(after.NRestarts) > Number(before.etcd.NRestarts), `systemd restarted it (NRestarts ${before.etcd.NRestarts} → ${after.NRestarts})`);
    const s = await status(h2);
    t.equal(s.localMemberId, before.status.localMemberId, 'same member id');
    t.equal(s.cluster.id, before.status.cluster.id, 'same cluster id');
    t.ok(s.etcdService.restarts >= 1, `/status counts systemd's restarts (${s.etcdService.detail})`);
    t.equal(await stateDigest(h2), before.digest, 'agent state files unchanged (no re-bootstrap)');
    t.equal(await h2.readFile('/etc/etcd/etcd.conf'), conf, 'etcd.conf unchanged');
    const health = await etcdctl(h2, 'endpoint health --cluster');
    t.equal((health.output.match(/is healthy/g) ?? []).length, 3, 'three healthy members');
  });

  t.test('3: a rebooted host comes back with the same member, data and state', async (t) => {
    const before = { digest: await stateDigest(h3), status: await status(h3), agent: await show(h3, 'etcd-agent', 'MainPID') };
    await etcdctl(h1, 'put before-reboot 1');
    const halted = Date.now();
    await h3.halt();
    t.comment(`host3 halted in ${Date.now() - halted} ms`);
    // Two of three keep quorum: writes go on while host3 is down.
    await etcdctl(h1, 'put during-reboot 2');
    const booted = Date.now();
    await h3.boot({ timeoutMs: 120_000 });
    t.comment(`host3 booted again in ${Date.now() - booted} ms (boot waits for etcd's READY: etcd.service is enabled)`);
    const active = await h3.exec(['systemctl', 'is-active', 'etcd', 'etcd-agent'], { check: false });
    t.same(active.stdout.trim().split('\n'), ['active', 'active'], 'etcd and the agent came back by themselves');
    await waitFor('/readyz 200 on host3 after reboot', async () => (await readyz(h3)) === '200', {
      timeoutMs: 90_000,
      intervalMs: 500,
      describe: () => diagnose([h3]),
    });
    const s = await status(h3);
    t.equal(s.localMemberId, before.status.localMemberId, 'same member id');
    t.equal(s.cluster.id, before.status.cluster.id, 'same cluster');
    t.equal(s.cluster.state, 'formed');
    t.equal(await stateDigest(h3), before.digest, 'agent state files unchanged');
    t.match(await h3.readFile('/etc/etcd/etcd.conf'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m, 'still existing');
    t.equal((await etcdctl(h3, 'get before-reboot --print-value-only', { endpoint: `https://${h3.address}:2379` })).stdout.trim(), '1', 'data from before the reboot');
    t.equal((await etcdctl(h3, 'get during-reboot --print-value-only', { endpoint: `https://${h3.address}:2379` })).stdout.trim(), '2', 'caught up with writes made while it was down');
    const boots = await h3.exec(['journalctl', '--list-boots', '--no-pager'], { check: false });
    t.ok(boots.stdout.trim().split('\n').length >= 2, 'the journal shows two boots (persistent disk)');
  });
}
