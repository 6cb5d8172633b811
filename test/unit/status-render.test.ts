import t from 'tap';
import { AgentMetrics } from '../../src/agent/status/metrics.js';
import type { StatusReport } from '../../src/agent/status/model.js';
import { renderStatusText } from '../../src/agent/status/render.js';
import { parsePrometheusText } from '../helpers/prom-text.js';

const renderMetrics = (r: StatusReport, loopAlive: boolean, processMetrics = false): Promise<string> =>
  new AgentMetrics({ report: () => r, loopAlive: () => loopAlive }, { processMetrics }).text();

const snapshots: StatusReport['snapshots'] = {
  enabled: true,
  intervalMs: 3_600_000,
  dir: '/var/lib/etcd-agent/snapshots',
  keep: 24,
  nextDueAt: '2026-11-22T11:00:00.000Z',
  inProgress: null,
  lastSuccess: { at: '2026-11-22T10:00:00.000Z', file: 'prod_n1_20261122T100000.000Z_rev42.db', sizeBytes: 20512, revision: 42, durationMs: 1500, reason: 'scheduled' },
  lastFailure: { at: '2026-11-22T09:00:00.000Z', reason: 'scheduled', error: 'ENOSPC: no space left on device' },
  successes: 3,
  failures: 1,
  consecutiveFailures: 0,
  files: [{ file: 'prod_n1_20261122T100000.000Z_rev42.db', sizeBytes: 20512, revision: 42, takenAt: '2026-11-22T10:00:00.000Z' }],
};

const report = (over: Partial<StatusReport> = {}): StatusReport => ({
  version: '0.1.0',
  node: { id: 'a'.repeat(32), name: 'n1', advertiseAddress: '10.0.0.11', advertiseAddressSource: 'auto (eth0)', peerApi: '0.0.0.0:2390', statusApi: '127.0.0.1:2391' },
  cluster: { name: 'prod', id: 'abc123', size: 3, state: 'formed' },
  phase: 'formed',
  reason: 'all 3 members healthy',
  phaseSince: '2026-11-22T10:00:00.000Z',
  caHolder: { nodeId: 'a'.repeat(32), name: 'n1', address: '10.0.0.11', peerApiPort: 2390, self: true, since: '2026-11-22T10:00:05.000Z', source: 'election' },
  caRole: {
    state: 'holder',
    reason: 'holds the CA role (CA key from its state dir)',
    since: '2026-11-22T10:00:05.000Z',
    keySource: 'local',
    escrow: 'present',
    holder: null,
    observedSince: '2026-11-22T10:00:04.000Z',
    heldSince: '2026-11-22T10:00:05.000Z',
    timesElected: 1,
    lastElectedAt: '2026-11-22T10:00:05.000Z',
  },
  initialMembers: [],
  discovery: { sources: ['seed'], problems: [] },
  peers: [{ endpoint: '10.0.0.12:2390', sources: ['seed'], origin: '10.0.0.12:2390', authenticated: false, error: 'ECONNREFUSED' }],
  controllers: [{ name: 'service', lastRunAt: null, lastError: null }],
  refusals: [{ from: '10.0.0.66 (evil)', reason: 'wrong join token', at: '2026-11-22T10:01:00.000Z' }],
  members: [
    { name: 'n1', id: '1a', peerUrls: [], clientUrls: ['https://10.0.0.11:2379'], isLearner: false, healthy: true },
    { name: 'n2', id: '2b', peerUrls: [], clientUrls: ['https://10.0.0.12:2379'], isLearner: false, healthy: false, reason: 'no leader' },
  ],
  leader: { id: '1a', name: 'n1' },
  localMemberId: '1a',
  ready: true,
  certificates: [
    { file: '/etc/etcd/pki/server.crt', kind: 'server', notAfter: new Date(Date.now() + 10 * 86_400_000).toISOString(), daysLeft: 10, secondsLeft: 864_000, renewAt: '2026-11-30T00:00:00.000Z' },
  ],
  certificateRenewal: { nextRenewalAt: '2026-11-30T00:00:00.000Z', lastRenewal: null, lastError: null, renewals: 0, failures: 0, reenrolled: null, clockOffset: null, warning: null },
  etcdService: { manager: 'process', state: 'active', detail: 'running', pid: 42, restarts: 2, recentLog: [] },
  snapshots,
  membership: null,
  lastError: null,
  ...over,
});

t.test('the status table says what matters in words', async (t) => {
  const text = renderStatusText(report());
  t.match(text, /^phase: +formed since/m);
  t.match(text, /^reason: +all 3 members healthy$/m);
  t.match(text, /^CA holder: +n1 at 10\.0\.0\.11:2390 \(this node\), since 2026-11-22T10:00:05\.000Z$/m);
  t.match(text, /^CA role: +holder: holds the CA role \(CA key from its state dir\)$/m);
  const other = renderStatusText(report({ caHolder: { nodeId: 'b'.repeat(32), name: 'n2', address: 'fd00::12', peerApiPort: 2390, self: false, since: null, source: 'initial-members' } }));
  t.match(other, /^CA holder: +n2 at \[fd00::12\]:2390, lowest id of the initial members$/m);
  t.match(renderStatusText(report({ caHolder: null })), /^CA holder: +\(none right now: the CA-role election is under way\)$/m);
  t.match(text, /n2 +2b +https:\/\/10\.0\.0\.12:2379 +no \(no leader\)/);
  t.match(text, /n1 +1a +https:\/\/10\.0\.0\.11:2379 +yes +\*/, 'the leader is starred');
  t.match(text, /10\.0\.0\.12:2390 .* ECONNREFUSED/);
  t.match(text, /10\.0\.0\.66 \(evil\): wrong join token/);
  const waiting = renderStatusText(report({ phase: 'discovering', reason: 'waiting for peers: 1 of 3', caHolder: null, caRole: null, members: [], leader: null, ready: false }));
  t.match(waiting, /CA holder: +\(not chosen yet\)/);
  t.notMatch(waiting, /MEMBERS/);
});

t.test('metrics are valid Prometheus text with one active phase', async (t) => {
  const text = await renderMetrics(report(), true);
  for (const line of text.trim().split('\n').filter((l) => l !== '')) {
    t.match(line, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z]+="[^"]*"\})? -?\d+(\.\d+)?)$/, line);
  }
  t.equal((text.match(/^etcd_agent_phase\{phase="[a-z-]+"\} 1$/gm) ?? []).length, 1);
  t.match(text, /^etcd_agent_etcd_members_healthy 1$/m);
  t.match(text, /^etcd_agent_certificate_expiry_seconds\{file="\/etc\/etcd\/pki\/server.crt"\} \d+$/m);
  t.match(await renderMetrics(report(), false), /^etcd_agent_up 0$/m);
});

t.test('metrics parse strictly, with process metrics, snapshot numbers and the hooks', async (t) => {
  const membership: StatusReport['membership'] = {
    wantedSize: 3, configuredSize: 3, sizeNote: null, voters: 3, learners: 0, queue: [], ops: [], plan: null, lockHolder: null, observedAt: null, problems: [],
    counts: [{ op: 'add-learner', result: 'ok', count: 2 }, { op: 'remove', result: 'failed', count: 1 }],
  };
  const certificateRenewal: StatusReport['certificateRenewal'] = {
    nextRenewalAt: '2026-11-30T00:00:00.000Z', lastRenewal: null, lastError: 'n1 unreachable', renewals: 4, failures: 2, reenrolled: null, clockOffset: null, warning: null,
  };
  const metrics = new AgentMetrics({ report: () => report({ membership, certificateRenewal }), loopAlive: () => true });
  for (const leader of ['1a', null, '1a', '2b', '2b', '1a']) metrics.leaderObserved(leader);
  const families = parsePrometheusText(await metrics.text());
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    [...families.values()].flatMap((f) => f.samples).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  t.equal(families.get('etcd_agent_membership_operations_total')?.type, 'counter');
  t.equal(value('etcd_agent_membership_operations_total', { op: 'add-learner', result: 'ok' }), 2, 'from the membership section of /status');
  t.equal(value('etcd_agent_membership_operations_total', { op: 'remove', result: 'failed' }), 1);
  t.equal(value('etcd_agent_leader_changes_seen_total'), 2, 'a change is a different leader than the last one seen');
  t.equal(value('etcd_agent_ca_holder'), 1);
  t.equal(value('etcd_agent_certificate_renewals_total'), 4, 'renewals, from certificateRenewal');
  t.equal(value('etcd_agent_certificate_renewal_failures_total'), 2);
  t.equal(value('etcd_agent_certificate_next_renewal_timestamp_seconds'), Date.parse('2026-11-30T00:00:00.000Z') / 1000);
  t.equal(value('etcd_agent_snapshot_last_success_timestamp_seconds'), Date.parse('2026-11-22T10:00:00.000Z') / 1000);
  t.equal(value('etcd_agent_snapshot_last_size_bytes'), 20512);
  t.equal(value('etcd_agent_snapshot_last_duration_seconds'), 1.5);
  t.equal(value('etcd_agent_snapshot_failures_total'), 1);
  t.equal(value('etcd_agent_snapshot_successes_total'), 3);
  t.equal(value('etcd_agent_snapshot_files'), 1);
  t.ok((value('process_resident_memory_bytes') ?? 0) > 1e6, 'process RSS');
  t.ok((value('process_cpu_seconds_total') ?? -1) >= 0, 'process CPU');
  t.equal(families.get('nodejs_eventloop_lag_seconds')?.type, 'gauge', 'event-loop lag');
  t.equal(families.get('nodejs_gc_duration_seconds')?.type, 'histogram', 'GC');
  const other = parsePrometheusText(await new AgentMetrics({ report: () => report({ caHolder: null }), loopAlive: () => true }).text());
  t.equal(other.get('etcd_agent_leader_changes_seen_total')?.samples[0]?.value, 0, 'each agent has its own registry');
  t.equal(other.get('etcd_agent_ca_holder')?.samples[0]?.value, 0);
});

t.test('the Prometheus text parser refuses what the format does not allow', async (t) => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{x="1"} 2\n';
  t.equal(parsePrometheusText(ok).get('a_total')?.samples[0]?.value, 2);
  for (const [bad, why] of [
    ['a 1\n', /without a TYPE/],
    ['# TYPE a gauge\na{x="1} 1\n', /unterminated|expected/],
    ['# TYPE a gauge\na{x="\\q"} 1\n', /bad escape/],
    ['# TYPE a gauge\na one\n', /not a number/],
    ['# TYPE a gauge\na 1\na 2\n', /duplicate series/],
    ['# TYPE a counter\na 1\n', /_total/],
    ['# TYPE a gauge\n# TYPE a gauge\n', /twice/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
    ['# TYPE 1a gauge\n', /bad metric name/],
    ['# TYPE a gauge\na 1', /newline/],
  ] as const) {
    t.throws(() => parsePrometheusText(bad), why, JSON.stringify(bad));
  }
});

t.test('the status table escapes control characters in every field', async (t) => {
  const ESC = '\u001b';
  const evil = (s: string): string => `${s}${ESC}[2J${ESC}]0;owned\u0007\u009b31m\u202e\r\n`;
  const withStrings = (f: (s: string) => string): StatusReport =>
    report({
      reason: f('reason'),
      node: { id: f('id'), name: f('name'), advertiseAddress: f('addr'), advertiseAddressSource: f('src'), peerApi: 'x', statusApi: 'y' },
      discovery: { sources: [f('seed')], problems: [f('problem')] },
      peers: [{ endpoint: f('ep'), sources: [f('s')], origin: f('o'), authenticated: false, name: f('peer'), stage: f('stage'), error: f('err') }],
      refusals: [{ from: f('from'), reason: f('why'), at: f('at') }],
      members: [{ name: f('m'), id: f('mid'), peerUrls: [], clientUrls: [f('url')], isLearner: false, healthy: false, reason: f('mr') }],
      certificates: [{ file: f('file'), kind: 'server', notAfter: f('na'), daysLeft: 1, secondsLeft: 86_400, renewAt: f('ra') }],
      certificateRenewal: {
        nextRenewalAt: f('ra'),
        lastRenewal: { at: f('la'), from: f('lf'), ms: 1, cpuMs: 1, notAfter: f('ln') },
        lastError: f('le'),
        renewals: 1,
        failures: 1,
        reenrolled: { at: f('ra'), reason: f('rr') },
        clockOffset: null,
        warning: f('warn'),
      },
      etcdService: { manager: f('mgr'), state: f('st'), detail: f('det'), restarts: 0, recentLog: [] },
      lastError: f('last'),
    });
  const text = renderStatusText(withStrings(evil));
  // eslint-disable-next-line no-control-regex
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.exec(text);
  t.equal(raw, null, `no raw control character (found ${JSON.stringify(raw?.[0])})`);
  for (const field of ['reason', 'name', 'seed', 'problem', 'ep', 'peer', 'err', 'from', 'why', 'url', 'file', 'det', 'last', 'lf', 'le', 'rr', 'warn']) {
    t.ok(text.includes(`${field}\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202e\\x0d\\x0a`), `${field}: escaped, visibly`);
  }
  const clean = renderStatusText(withStrings((s) => `${s}-clean`));
  t.equal(text.split('\n').length, clean.split('\n').length, 'embedded line breaks add no lines');
});
