/**
 * The .deb on clean Debian 12 machines: three systemd-nspawn roots booted
 * with systemd (test/helpers/nspawn.ts, `agent: false`: no agent files, no
 * Node.js; Debian's etcd-server preinstalled, as cloud-init's `packages:`
 * would; no network beyond the test bridge).
 *
 * 1. host1: `apt-get install /root/etcd-agent.deb` works offline with Debian's
 *    packages only; `etcd-agent --version` runs; the unit is enabled, not
 *    started; started unconfigured, it says so and ends inactive, not failed.
 * 2. The cloud-init one-liner from packaging/cloud-init/user-data.yaml, run
 *    verbatim on all three (the addresses replaced by the hosts'; the token
 *    file written as its write_files says) forms one TLS cluster.
 * 3. host1 upgrades to a `+up1` build: restarted, new version, same config,
 *    certificates, node id and membership.
 * 4. host3: `apt-get remove` stops and disables the agent; etcd runs on and
 *    the cluster stays healthy. `apt-get purge` removes /etc/etcd-agent and
 *    /var/lib/etcd-agent, and nothing of etcd's data.
 * 5. host3 without etcd-server: `dpkg -i` works (etcd is only recommended);
 *    the started agent names the missing /usr/bin/etcd and what to install.
 *
 * Steps build on each other (one cluster); every wait is bounded.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SystemdTestBed, requireSystemdHosts, type SystemdHost } from '../helpers/nspawn.js';
import { buildPackages, cloudInitOneLiner, packagingUnsupported, releaseCleanTrees, type BuiltPackages } from '../helpers/packages.js';
import { REPO } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';
import { generateToken } from '../../src/pki/token.js';

t.setTimeout(20 * 60_000);

const USER_DATA = join(REPO, 'packaging', 'cloud-init', 'user-data.yaml');
const DEB_IN_HOST = '/root/etcd-agent.deb';
const CLUSTER = 'prod';

interface AgentStatus {
  ready: boolean;
  phase: string;
  reason: string;
  node: { id: string; name: string };
  cluster: { state: string };
  members: { name: string; id: string; peerUrls: string[]; clientUrls: string[]; healthy: boolean }[];
  etcdService: { manager: string; state: string };
}

async function status(h: SystemdHost): Promise<AgentStatus | undefined> {
  const r = await h.exec(['etcd-agent', 'status', '--json'], { check: false, timeoutMs: 15_000 });
  try {
    return JSON.parse(r.stdout) as AgentStatus;
  } catch {
    return undefined;
  }
}

/** etcdctl as the node's admin client (TLS, through /etc/etcd/etcdctl.env). */
function etcdctl(h: SystemdHost, args: string): ReturnType<SystemdHost['exec']> {
  return h.sh(`set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl --command-timeout=10s ${args}`, { timeoutMs: 30_000 });
}

async function memberIds(h: SystemdHost): Promise<string[]> {
  const r = await etcdctl(h, 'member list -w json');
  const members = (JSON.parse(r.stdout) as { members: { ID: number | string }[] }).members;
  return members.map((m) => BigInt(m.ID).toString(16)).sort();
}

async function show(h: SystemdHost, unit: string, ...props: string[]): Promise<Record<string, string>> {
  const r = await h.exec(['systemctl', 'show', unit, '-p', props.join(',')]);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function digest(h: SystemdHost, paths: string): Promise<string> {
  return (await h.sh(`sha256sum ${paths}`)).stdout;
}

async function diagnose(hosts: SystemdHost[]): Promise<string> {
  const parts: string[] = [];
  for (const h of hosts) {
    if (!h.running) continue;
    const s = await h.exec(['etcd-agent', 'status'], { check: false, timeoutMs: 10_000 }).catch((e: unknown) => ({ output: String(e) }));
    parts.push(`--- ${h.name} status:\n${s.output.slice(0, 2000)}`);
    parts.push(`--- ${h.name} journal etcd-agent:\n${await h.journal('etcd-agent', 30)}`);
    parts.push(`--- ${h.name} journal etcd:\n${await h.journal('etcd', 15)}`);
  }
  return parts.join('\n');
}

async function waitReady(hosts: SystemdHost[], what: string, timeoutMs = 180_000): Promise<void> {
  await waitFor(what, async () => (await Promise.all(hosts.map(status))).every((s) => s?.ready === true), {
    timeoutMs,
    intervalMs: 1000,
    describe: () => diagnose(hosts),
  });
}

/**
 * One more try when a boot does not come up: under load, systemd inside a
 * container has been seen to answer `is-system-running --wait` with
 * "offline" (reported to the nspawn helper's owner).
 */
async function bootWithRetry(t: Test, h: SystemdHost): Promise<void> {
  try {
    await h.boot();
  } catch (err) {
    t.comment(`${h.name}: boot failed, halting and booting once more: ${String(err).split('\n')[0] ?? ''}`);
    await h.halt();
    await h.boot();
  }
}

async function scenario(t: Test): Promise<void> {
  // Both builds first: a build running beside the containers loads both cores
  // and makes boot and election timing flaky.
  const base = await buildPackages({ log: (l) => t.comment(l) });
  t.teardown(releaseCleanTrees);
  const upgrade: BuiltPackages = await buildPackages({ suffix: '+up1', only: 'deb', log: (l) => t.comment(`(+up1) ${l}`) });
  releaseCleanTrees();

  const bed = await SystemdTestBed.create(t, { prefix: 'eapk', subnet: 219, hosts: 3, agent: false });
  const hosts = bed.hosts;
  const [h1, , h3] = hosts as [SystemdHost, SystemdHost, SystemdHost];
  const booted = Date.now();
  await Promise.all(hosts.map((h) => bootWithRetry(t, h)));
  t.comment(`3 clean Debian hosts booted in ${Date.now() - booted} ms`);
  for (const h of hosts) await h.copyIn(base.deb, DEB_IN_HOST);

  await t.test('1: apt-get install on a clean Debian host: offline, no Node, enabled, not started', async (t) => {
    t.not((await h1.exec(['sh', '-c', 'command -v node nodejs'], { check: false })).code, 0, 'the host has no Node.js');
    t.match((await h1.exec(['dpkg-query', '-W', '-f', '${Status}', 'etcd-server'])).stdout, 'install ok installed', "Debian's etcd-server is there (cloud-init packages:)");
    const install = await h1.exec(['apt-get', 'install', '-y', DEB_IN_HOST], { timeoutMs: 180_000, check: false });
    t.equal(install.code, 0, `apt-get install succeeds with Debian's packages only:\n${install.output.slice(-3000)}`);
    t.match(install.output, 'installed and enabled, not started', 'the postinst says what to do next');
    t.equal((await h1.exec(['etcd-agent', '--version'])).stdout, `etcd-agent ${base.version}\n`);
    t.equal((await h1.exec(['systemctl', 'is-enabled', 'etcd-agent'], { check: false })).stdout.trim(), 'enabled');
    t.equal((await h1.exec(['systemctl', 'is-active', 'etcd-agent'], { check: false })).stdout.trim(), 'inactive', 'not started');
    t.match((await h1.exec(['getent', 'passwd', 'etcd'])).stdout, /^etcd:/);
    t.equal((await h1.exec(['stat', '-c', '%a %U', '/var/lib/etcd-agent', '/etc/etcd/pki'])).stdout, '700 root\n755 root\n');
    t.equal((await h1.exec(['test', '-f', '/usr/share/man/man1/etcd-agent.1.gz'], { check: false })).code, 0, 'the man page is installed');

    // Started before it is configured (e.g. a reboot of an image with the package preinstalled).
    const start = await h1.exec(['systemctl', 'start', 'etcd-agent'], { check: false, timeoutMs: 60_000 });
    t.equal(start.code, 0, `systemctl start succeeds: ${start.output}`);
    await waitFor('the unconfigured agent to end', async () => (await h1.exec(['systemctl', 'is-active', 'etcd-agent'], { check: false })).stdout.trim() === 'inactive', {
      timeoutMs: 20_000,
    });
    // Restart=on-failure would have started it again within RestartSec: check it did not.
    await new Promise((r) => setTimeout(r, 6000));
    const props = await show(h1, 'etcd-agent', 'ActiveState', 'Result', 'NRestarts', 'ExecMainStatus', 'StatusText');
    t.equal(props.ActiveState, 'inactive', 'not failed');
    t.equal(props.Result, 'success');
    t.equal(props.NRestarts, '0', 'no restart loop');
    t.equal(props.ExecMainStatus, '0', 'exit 0');
    t.match(props.StatusText, 'not configured', 'systemctl status says why');
    t.match(await h1.journal('etcd-agent', 20), 'not configured: /etc/etcd-agent/config.yaml sets no keys yet', 'the journal says what to do');
  });

  await t.test('2: the cloud-init one-liner, verbatim on three hosts, forms a TLS cluster', async (t) => {
    const userData = parse(readFileSync(USER_DATA, 'utf8')) as { write_files: { path: string; permissions: string }[] };
    const template = cloudInitOneLiner(USER_DATA);
    const seeds = /--seeds (\S+)/.exec(template)?.[1] ?? '';
    t.equal(seeds.split(',').length, 3);
    t.ok(template.includes(DEB_IN_HOST), 'the example installs the .deb it downloaded');
    const line = template.replace(seeds, hosts.map((h) => h.address).join(','));
    t.comment(`one-liner: ${line}`);
    const token = generateToken();
    const started = Date.now();
    await Promise.all(
      hosts.map(async (h) => {
        // cloud-init's write_files, then its runcmd line.
        for (const wf of userData.write_files) await h.writeFile(wf.path, `${token}\n`, Number.parseInt(wf.permissions, 8));
        const r = await h.sh(line, { check: false, timeoutMs: 240_000 });
        t.equal(r.code, 0, `${h.name}: the one-liner exits 0:\n${r.output.slice(-3000)}`);
      }),
    );
    await waitReady(hosts, 'all three agents ready');
    t.comment(`cluster formed ${Date.now() - started} ms after the one-liners started`);

    for (const h of hosts) {
      const s = await status(h);
      t.equal(s?.cluster.state, 'formed', `${h.name}: formed`);
      t.equal(s?.node.name, h.name, `${h.name}: named after the host`);
      t.equal((await h.exec(['systemctl', 'is-enabled', 'etcd-agent'])).stdout.trim(), 'enabled');
      t.equal((await h.exec(['stat', '-c', '%a', '/etc/etcd-agent/config.yaml', '/etc/etcd-agent/join-token'])).stdout, '600\n600\n');
    }
    const members = (await status(h1))?.members ?? [];
    t.equal(members.length, 3, 'three members');
    for (const m of members) {
      t.ok(m.peerUrls.every((u) => u.startsWith('https://')), `${m.name}: peer URLs are https`);
      t.ok(m.clientUrls.every((u) => u.startsWith('https://')), `${m.name}: client URLs are https`);
    }
    const health = await etcdctl(h1, 'endpoint health --cluster');
    t.equal(health.output.match(/is healthy/g)?.length, 3, `every endpoint healthy over TLS:\n${health.output}`);
    await etcdctl(h1, 'put packaged hello');
    t.match((await etcdctl(h3, 'get packaged --print-value-only')).stdout, 'hello', 'a write on host1 is read on host3');
    const plain = await h1.exec(['curl', '-s', '-m', '5', `http://${h1.address}:2379/health`], { check: false });
    t.notMatch(plain.stdout, /"health":\s*"true"/, 'no plain-HTTP access to etcd');
    const noCert = await h1.exec(['curl', '-s', '-m', '5', '--cacert', '/etc/etcd/pki/ca.crt', `https://${h1.address}:2379/v3/cluster/member/list`, '-X', 'POST', '-d', '{}'], { check: false });
    t.not(noCert.code, 0, 'a client without a certificate is refused (mutual TLS)');
  });

  await t.test('3: upgrade to a newer build keeps config, certificates and membership', async (t) => {
    const up = upgrade;
    t.equal(up.version, `${base.version}+up1`);
    await h1.copyIn(up.deb, '/root/etcd-agent-up.deb');
    const kept = '/etc/etcd-agent/config.yaml /etc/etcd-agent/join-token /etc/etcd/pki/*';
    const before = {
      files: await digest(h1, kept),
      nodeId: (await status(h1))?.node.id,
      members: await memberIds(h1),
      invocation: (await show(h1, 'etcd-agent', 'InvocationID')).InvocationID,
    };
    const r = await h1.exec(['apt-get', 'install', '-y', '/root/etcd-agent-up.deb'], { timeoutMs: 180_000, check: false });
    t.equal(r.code, 0, `apt-get install of the newer build:\n${r.output.slice(-3000)}`);
    t.notMatch(r.output, /Configuration file .* modified/, 'no conffile question: the template did not change');
    t.equal((await h1.exec(['etcd-agent', '--version'])).stdout, `etcd-agent ${up.version}\n`);
    t.equal((await h1.exec(['dpkg-query', '-W', '-f', '${Version}', 'etcd-agent'])).stdout, up.version);
    const after = await show(h1, 'etcd-agent', 'InvocationID', 'ActiveState');
    t.not(after.InvocationID, before.invocation, 'the agent was restarted');
    t.equal(after.ActiveState, 'active');
    await waitReady([h1], 'host1 ready again after the upgrade', 120_000);
    t.equal(await digest(h1, kept), before.files, 'config, token and certificates unchanged');
    t.equal((await status(h1))?.node.id, before.nodeId, 'same node identity');
    t.same(await memberIds(h1), before.members, 'same members');
    t.equal((await h1.exec(['systemctl', 'is-enabled', 'etcd-agent'])).stdout.trim(), 'enabled');
  });

  await t.test('4: remove leaves etcd running; purge removes the agent\'s config and state, not etcd\'s data', async (t) => {
    const members = await memberIds(h1);
    const r = await h3.exec(['apt-get', 'remove', '-y', 'etcd-agent'], { timeoutMs: 120_000, check: false });
    t.equal(r.code, 0, r.output.slice(-3000));
    t.equal((await h3.exec(['systemctl', 'is-active', 'etcd-agent'], { check: false })).stdout.trim(), 'inactive', 'the agent is stopped');
    t.equal((await h3.exec(['sh', '-c', 'ls /etc/systemd/system/*.wants/etcd-agent.service 2>/dev/null | wc -l'])).stdout.trim(), '0', 'and disabled');
    t.equal((await h3.exec(['systemctl', 'is-active', 'etcd'], { check: false })).stdout.trim(), 'active', 'etcd runs on');
    t.ok((await h3.exec(['test', '-f', '/etc/etcd-agent/config.yaml'], { check: false })).code === 0, 'remove keeps the config');
    t.ok((await h3.exec(['test', '-d', '/var/lib/etcd-agent'], { check: false })).code === 0, 'remove keeps the state');
    const health = await etcdctl(h1, 'endpoint health --cluster');
    t.equal(health.output.match(/is healthy/g)?.length, 3, `the cluster stays whole and healthy:\n${health.output}`);

    const p = await h3.exec(['apt-get', 'purge', '-y', 'etcd-agent'], { timeoutMs: 120_000, check: false });
    t.equal(p.code, 0, p.output.slice(-3000));
    t.equal((await h3.exec(['test', '-e', '/etc/etcd-agent'], { check: false })).code, 1, '/etc/etcd-agent is gone');
    t.equal((await h3.exec(['test', '-e', '/var/lib/etcd-agent'], { check: false })).code, 1, '/var/lib/etcd-agent is gone');
    t.equal((await h3.exec(['test', '-d', `/var/lib/etcd/${CLUSTER}/member/snap`], { check: false })).code, 0, "etcd's data stays");
    t.equal((await h3.exec(['test', '-f', '/etc/etcd/pki/server.crt'], { check: false })).code, 0, "etcd's certificates stay");
    t.equal((await h3.exec(['systemctl', 'is-active', 'etcd'], { check: false })).stdout.trim(), 'active', 'etcd still runs');
    t.same(await memberIds(h1), members, 'still the same three members');
    t.equal((await h3.exec(['dpkg-query', '-W', '-f', '${Status}', 'etcd-agent'], { check: false })).stdout.includes('installed'), false, 'no trace in dpkg');
  });

  await t.test('5: without etcd installed, the agent says which binary is missing and how to get it', async (t) => {
    // host3 has left the agent's care; now its etcd goes too (the cluster keeps quorum with two).
    await h3.exec(['dpkg', '--purge', 'etcd-server'], { timeoutMs: 60_000 });
    const i = await h3.exec(['dpkg', '-i', DEB_IN_HOST], { timeoutMs: 120_000, check: false });
    t.equal(i.code, 0, `etcd is only recommended: dpkg -i works without it\n${i.output.slice(-2000)}`);
    await h3.writeFile('/etc/etcd-agent/join-token', `${generateToken()}\n`, 0o600);
    await h3.exec(['etcd-agent', 'init', '--cluster', 'solo', '--size', '1', '--token-file', '/etc/etcd-agent/join-token', '--no-mdns']);
    await h3.exec(['systemctl', 'start', 'etcd-agent'], { timeoutMs: 60_000 });
    const s = await waitFor(
      'the agent to report the missing etcd binary',
      async () => {
        const st = await status(h3);
        const text = `${st?.reason ?? ''} ${(st as { lastError?: string } | undefined)?.lastError ?? ''}`;
        return text.includes('/usr/bin/etcd') ? text : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, describe: () => diagnose([h3]) },
    );
    t.match(s, 'the etcd binary /usr/bin/etcd cannot be run (no such file)', 'names the binary and why');
    t.match(s, 'install etcd', 'and what to do');
    t.comment(`reported: ${s.trim()}`);
    t.match(await h3.journal('etcd-agent', 50), '/usr/bin/etcd cannot be run', 'the journal says it too');
  });
}

const why = packagingUnsupported();
if (why !== undefined) {
  process.stderr.write(`\n!!! SKIPPING package e2e test: ${why} !!!\n\n`);
  t.comment(`SKIPPING package e2e test: ${why}`);
  t.skip(why, () => undefined);
} else if (requireSystemdHosts(t)) {
  await t.test('the .deb on clean Debian hosts with systemd', async (t) => {
    await scenario(t);
  });
}
