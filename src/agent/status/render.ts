import { formatDuration } from '../../util/duration.js';
import { sanitizeDeep } from '../../util/terminal.js';
import { unhealthyWords } from '../controllers/dead-members.js';
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
  const wanted = r.membership?.wantedSize;
  const size = wanted != null && wanted !== r.cluster.size ? `wanted size ${wanted} (this node's config says ${r.cluster.size})` : `size ${wanted ?? r.cluster.size}`;
  row('cluster', `${r.cluster.name}, ${size}, ${r.cluster.state}${r.cluster.id ? `, id ${r.cluster.id}` : ''}`);
  row('phase', `${r.phase} since ${r.phaseSince}`);
  row('reason', r.reason);
  row('ready', r.ready ? 'yes' : 'no');
  row('CA holder', caHolderText(r));
  if (r.caRole) row('CA role', `${r.caRole.state}: ${r.caRole.reason}`);
  row('etcd service', `${r.etcdService.state} via ${r.etcdService.manager}${r.etcdService.pid ? `, pid ${r.etcdService.pid}` : ''}; ${r.etcdService.detail}`);
  for (const source of r.discovery.sources) row('discovery', source);
  for (const problem of r.discovery.problems) row('discovery issue', problem);
  if (r.leader) row('leader', `${r.leader.name || '?'} (${r.leader.id})`);
  if (r.lastError) row('last error', r.lastError);

  if (r.members.length > 0) {
    lines.push('', 'MEMBERS');
    lines.push(table(
      ['NAME', 'ID', 'CLIENT URL', 'HEALTHY', 'LEADER', 'ROLE'],
      r.members.map((m) => [
        m.name || '(unstarted)',
        m.id,
        m.clientUrls[0] ?? '',
        m.healthy ? 'yes' : `no${m.unhealthyForMs !== undefined ? `, ${unhealthyWords(m)}` : ''}${m.reason ? ` (${m.reason})` : ''}`,
        r.leader?.id === m.id ? '*' : '',
        m.isLearner ? 'learner' : 'voter',
      ]),
    ));
  }
  const ms = r.membership;
  if (ms) {
    lines.push('', 'MEMBERSHIP');
    row('wanted size', ms.wantedSize === null ? '(not read yet)' : `${ms.wantedSize} voters`);
    row('members', `${ms.voters} voter${ms.voters === 1 ? '' : 's'}, ${ms.learners} learner${ms.learners === 1 ? '' : 's'}`);
    if (ms.sizeNote) row('size note', ms.sizeNote);
    if (ms.plan) row('plan', `${ms.plan.action}: ${ms.plan.reason}`);
    if (ms.lockHolder) row('lock', `held by ${ms.lockHolder}`);
    for (const p of ms.problems) row('problem', p);
    if (ms.queue.length > 0) {
      lines.push('', 'JOINERS (first ask first)');
      lines.push(table(['NAME', 'ADDRESS', 'WHY', 'SINCE', 'STATE', 'ANSWER'], ms.queue.map((q) => [q.name, q.address, q.reason, q.since, q.state, q.answer])));
    }
    if (ms.ops.length > 0) {
      lines.push('', 'MEMBERSHIP OPERATIONS (newest last)');
      for (const o of ms.ops) lines.push(`  ${o.at} ${o.op} ${o.target} by ${o.by}: ${o.result} — ${o.reason}`);
    }
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
  const snap = r.snapshots;
  if (snap.enabled || snap.lastSuccess || snap.lastFailure || snap.files.length > 0) {
    lines.push('', 'SNAPSHOTS');
    row('schedule', snap.enabled ? `every ${formatDuration(snap.intervalMs)}, keep ${snap.keep}, in ${snap.dir}${snap.nextDueAt ? `; next ${snap.nextDueAt}` : ''}` : `scheduled snapshots off; in ${snap.dir}`);
    if (snap.inProgress) row('in progress', `since ${snap.inProgress.since} (${snap.inProgress.reason})`);
    if (snap.lastSuccess) {
      const s = snap.lastSuccess;
      row('last success', `${s.at} ${s.file}, ${s.sizeBytes} bytes, revision ${s.revision}, ${s.durationMs} ms (${s.reason})`);
    }
    if (snap.lastFailure) row('last failure', `${snap.lastFailure.at} (${snap.lastFailure.reason}): ${snap.lastFailure.error}`);
    row('counts', `${snap.successes} taken, ${snap.failures} failed since start (${snap.consecutiveFailures} in a row), ${snap.files.length} kept`);
  }
  if (r.refusals.length > 0) {
    lines.push('', 'REFUSED (most recent last)');
    for (const x of r.refusals.slice(-5)) lines.push(`  ${x.at} ${x.from}: ${x.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

function caHolderText(r: StatusReport): string {
  const h = r.caHolder;
  if (!h) return r.caRole ? '(none right now: the CA-role election is under way)' : '(not chosen yet)';
  const where = `${h.address.includes(':') ? `[${h.address}]` : h.address}:${h.peerApiPort}`;
  const how = h.source === 'election' ? `since ${h.since ?? '?'}` : h.source === 'join-answer' ? 'as its admission said' : 'lowest id of the initial members';
  return `${h.name} at ${where}${h.self ? ' (this node)' : ''}, ${how}`;
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
