import { sanitizeDeep } from '../../util/terminal.js';
import type { StatusReport } from './model.js';

/**
 * Pure: the human view of /status that `etcd-agent status` prints. Every
 * string in it is escaped first: names, reasons and errors may quote what a
 * peer (or the network) said, and the terminal must show that, not obey it.
 */
export function renderStatusText(report: StatusReport): string {
  const r = sanitizeDeep(report);
  const lines: string[] = [];
  const row = (k: string, v: string): void => {
    lines.push(`${`${k}:`.padEnd(16)}${v}`);
  };
  row('node', `${r.node.name} (${r.node.id}) at ${r.node.advertiseAddress} [${r.node.advertiseAddressSource}]`);
  row('cluster', `${r.cluster.name}, size ${r.cluster.size}, ${r.cluster.state}${r.cluster.id ? `, id ${r.cluster.id}` : ''}`);
  row('phase', `${r.phase} since ${r.phaseSince}`);
  row('reason', r.reason);
  row('ready', r.ready ? 'yes' : 'no');
  row('CA holder', r.caHolder ? `${r.caHolder.name}${r.caHolder.self ? ' (this node)' : ''}` : '(not chosen yet)');
  row('etcd service', `${r.etcdService.state} via ${r.etcdService.manager}${r.etcdService.pid ? `, pid ${r.etcdService.pid}` : ''}; ${r.etcdService.detail}`);
  for (const source of r.discovery.sources) row('discovery', source);
  for (const problem of r.discovery.problems) row('discovery issue', problem);
  if (r.leader) row('leader', `${r.leader.name || '?'} (${r.leader.id})`);
  if (r.lastError) row('last error', r.lastError);

  if (r.members.length > 0) {
    lines.push('', 'MEMBERS');
    lines.push(table(
      ['NAME', 'ID', 'CLIENT URL', 'HEALTHY', 'LEADER', 'LEARNER'],
      r.members.map((m) => [
        m.name || '(unstarted)',
        m.id,
        m.clientUrls[0] ?? '',
        m.healthy ? 'yes' : `no${m.reason ? ` (${m.reason})` : ''}`,
        r.leader?.id === m.id ? '*' : '',
        m.isLearner ? 'yes' : '',
      ]),
    ));
  }
  if (r.peers.length > 0) {
    lines.push('', 'PEERS');
    lines.push(table(
      ['ENDPOINT', 'NAME', 'STAGE', 'AUTH', 'VIA', 'PROBLEM'],
      r.peers.map((p) => [p.endpoint, p.name ?? '', p.stage ?? '', p.authenticated ? 'yes' : 'no', p.sources.join('+'), p.error ?? '']),
    ));
  }
  if (r.certificates.length > 0) {
    const renewal = r.certificateRenewal;
    lines.push('', 'CERTIFICATES');
    lines.push(table(
      ['FILE', 'EXPIRES', 'LEFT', 'RENEWS AT'],
      r.certificates.map((c) => [c.file, c.notAfter, left(c.secondsLeft), c.renewAt ?? (c.kind === 'ca' ? '(not renewed by the agent)' : '')]),
    ));
    const last = renewal.lastRenewal;
    lines.push(`renewals: ${renewal.renewals} since start${last ? `, last at ${last.at} from ${last.from} (${last.ms} ms, ${last.cpuMs} ms CPU)` : ''}${renewal.failures ? `, ${renewal.failures} failed` : ''}`);
    if (renewal.lastError) lines.push(`last renewal error: ${renewal.lastError}`);
    if (renewal.reenrolled) lines.push(`re-enrolled at ${renewal.reenrolled.at}: ${renewal.reenrolled.reason}`);
    if (renewal.warning) lines.push(`WARNING: ${renewal.warning}`);
  }
  if (r.refusals.length > 0) {
    lines.push('', 'REFUSED (most recent last)');
    for (const x of r.refusals.slice(-5)) lines.push(`  ${x.at} ${x.from}: ${x.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** 86400 → '1d0h'; short and exact enough for a table cell. */
function left(seconds: number): string {
  if (seconds <= 0) return 'expired';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  return `${m}m${seconds % 60}s`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [fmt(header), ...rows.map(fmt)].join('\n');
}
