import type { Phase, StatusReport } from './model.js';

const PHASES: Phase[] = [
  'starting', 'discovering', 'electing', 'spare', 'joining', 'enrolling',
  'configuring', 'starting-etcd', 'forming', 'formed', 'stopping',
];

/** Prometheus text exposition of the status report. */
export function renderMetrics(report: StatusReport, loopAlive: boolean): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

  gauge('etcd_agent_up', 'The agent main loop is alive.', [['', loopAlive ? 1 : 0]]);
  gauge('etcd_agent_ready', 'The local etcd member serves and the cluster has a leader.', [['', report.ready ? 1 : 0]]);
  gauge(
    'etcd_agent_phase',
    'Current lifecycle phase (1 for the active phase).',
    PHASES.map((p) => [`{phase="${p}"}`, p === report.phase ? 1 : 0]),
  );
  gauge('etcd_agent_cluster_formed', 'The cluster has formed.', [['', report.cluster.state === 'formed' ? 1 : 0]]);
  gauge('etcd_agent_peers_authenticated', 'Agents authenticated with the join token or cluster CA.', [
    ['', report.peers.filter((p) => p.authenticated).length],
  ]);
  gauge('etcd_agent_etcd_members', 'etcd members as last listed.', [['', report.members.length]]);
  gauge('etcd_agent_etcd_members_healthy', 'etcd members that answered the last health check.', [
    ['', report.members.filter((m) => m.healthy).length],
  ]);
  gauge('etcd_agent_etcd_service_restarts', 'Restarts of the etcd service by the agent.', [['', report.etcdService.restarts]]);
  gauge(
    'etcd_agent_certificate_expiry_seconds',
    'Seconds until each certificate expires.',
    report.certificates.map((c) => [`{file="${label(c.file)}"}`, Math.round((Date.parse(c.notAfter) - Date.now()) / 1000)]),
  );
  return `${lines.join('\n')}\n`;
}
