/**
 * etcd-agent on systemd hosts (nspawn.ts): init, the local status API,
 * etcdctl as the node's admin client, and diagnostics for failure messages.
 */
import type { StatusReport } from '../../src/agent/status/model.js';
import { parseEtcdJson } from './cluster-checks.js';
import type { SystemdHost } from './nspawn.js';


/** `etcd-agent init` on a host, plus extra YAML appended to its config (e.g. a `membership:` section). */
export async function initAgent(
  h: SystemdHost,
  options: { cluster: string; size: number; token: string; seeds: SystemdHost[]; extraYaml?: string },
): Promise<void> {
  const seeds = options.seeds.filter((o) => o !== h).map((o) => o.address).join(',');
  await h.exec([
    'etcd-agent', 'init', '--cluster', options.cluster, '--size', String(options.size), `--token=${options.token}`, '--name', h.name,
    '--advertise-address', h.address!, '--seeds', seeds, '--no-mdns',
  ]);
  if (options.extraYaml) {
    const config = (await h.readFile('/etc/etcd-agent/config.yaml')) ?? '';
    await h.writeFile('/etc/etcd-agent/config.yaml', `${config.trimEnd()}\n${options.extraYaml.trimEnd()}\n`, 0o600);
  }
  await h.exec(['etcd-agent', 'check-config']);
}

/** HTTP status of the agent's /readyz ('000' when nothing answers). */
export async function readyz(h: SystemdHost): Promise<string> {
  const r = await h.exec(['curl', '-s', '-o', '/dev/null', '-m', '2', '-w', '%{http_code}', 'http://127.0.0.1:2391/readyz'], { check: false, timeoutMs: 10_000 });
  return r.stdout.trim();
}

export async function agentStatus(h: SystemdHost): Promise<StatusReport> {
  const r = await h.exec(['curl', '-sf', '-m', '5', 'http://127.0.0.1:2391/status'], { timeoutMs: 15_000 });
  return JSON.parse(r.stdout) as StatusReport;
}

/** etcdctl as the node's admin client (TLS, through /etc/etcd/etcdctl.env); `endpoint` overrides the endpoints. */
export function etcdctl(h: SystemdHost, args: string, options: { endpoint?: string; check?: boolean; timeoutMs?: number } = {}): ReturnType<SystemdHost['exec']> {
  // etcdctl refuses --endpoints next to ETCDCTL_ENDPOINTS: override the variable instead.
  const only = options.endpoint ? `ETCDCTL_ENDPOINTS=${options.endpoint}; ` : '';
  return h.sh(`set -a; . /etc/etcd/etcdctl.env; ${only}set +a; etcdctl --dial-timeout=3s --command-timeout=10s ${args}`, {
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(options.check === false ? { check: false } : {}),
  });
}

export interface ListedMember {
  id: string;
  name: string;
  isLearner: boolean;
  peerURLs: string[];
}

/** `member list` through a host's own etcd: the cluster id and the members (ids in hex). */
export async function memberList(h: SystemdHost): Promise<{ clusterId: string; members: ListedMember[] }> {
  const r = await etcdctl(h, 'member list -w json', { endpoint: `https://${h.address}:2379` });
  const parsed = parseEtcdJson<{ header: { cluster_id: string }; members: { ID: string; name: string; isLearner?: boolean; peerURLs: string[] }[] }>(r.stdout);
  return {
    clusterId: BigInt(parsed.header.cluster_id).toString(16),
    members: parsed.members.map((m) => ({ id: BigInt(m.ID).toString(16), name: m.name, isLearner: Boolean(m.isLearner), peerURLs: m.peerURLs })),
  };
}

/** The cluster id each host's own etcd reports (hosts whose etcd does not answer are left out). */
export async function clusterIds(hosts: SystemdHost[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const h of hosts) {
    const r = await etcdctl(h, 'endpoint status -w json', { endpoint: `https://${h.address}:2379`, check: false });
    if (r.code !== 0) continue;
    const parsed = parseEtcdJson<{ Status: { header: { cluster_id: string } } }[]>(r.stdout);
    ids.set(h.name, BigInt(parsed[0]!.Status.header.cluster_id).toString(16));
  }
  return ids;
}

export async function diagnose(hosts: SystemdHost[]): Promise<string> {
  const parts: string[] = [];
  for (const h of hosts) {
    if (!h.running) {
      parts.push(`--- ${h.name}: not running`);
      continue;
    }
    const s = await h.exec(['curl', '-s', '-m', '2', 'http://127.0.0.1:2391/status'], { check: false });
    let summary = s.stdout.slice(0, 600);
    try {
      const r = JSON.parse(s.stdout) as StatusReport & { membership?: unknown };
      summary = JSON.stringify({ phase: r.phase, reason: r.reason, members: r.members.map((m) => `${m.name}/${m.id}${m.isLearner ? '/learner' : ''}/${m.healthy ? 'ok' : 'down'}`), membership: r.membership, lastError: r.lastError }).slice(0, 2500);
    } catch {
      // not JSON: show what came
    }
    parts.push(`--- ${h.name} /status: ${summary}`);
    parts.push(`--- ${h.name} etcd-agent: ${await h.journal('etcd-agent', 25)}`);
    parts.push(`--- ${h.name} etcd: ${await h.journal('etcd', 10)}`);
  }
  return parts.join('\n');
}
