import t from 'tap';
import { renderMetrics } from '../../src/agent/status/metrics.js';
import type { StatusReport } from '../../src/agent/status/model.js';
import { renderStatusText } from '../../src/agent/status/render.js';

const report = (over: Partial<StatusReport> = {}): StatusReport => ({
  version: '0.1.0',
  node: { id: 'a'.repeat(32), name: 'n1', advertiseAddress: '10.0.0.11', advertiseAddressSource: 'auto (eth0)', peerApi: '0.0.0.0:2390', statusApi: '127.0.0.1:2391' },
  cluster: { name: 'prod', id: 'abc123', size: 3, state: 'formed' },
  phase: 'formed',
  reason: 'all 3 members healthy',
  phaseSince: '2026-11-22T10:00:00.000Z',
  caHolder: { nodeId: 'a'.repeat(32), name: 'n1', self: true },
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
  certificateRenewal: { nextRenewalAt: '2026-11-30T00:00:00.000Z', lastRenewal: null, lastError: null, renewals: 0, failures: 0, reenrolled: null, warning: null },
  etcdService: { manager: 'process', state: 'active', detail: 'running', pid: 42, restarts: 2, recentLog: [] },
  lastError: null,
  ...over,
});

t.test('the status table says what matters in words', async (t) => {
  const text = renderStatusText(report());
  t.match(text, /^phase: +formed since/m);
  t.match(text, /^reason: +all 3 members healthy$/m);
  t.match(text, /^CA holder: +n1 \(this node\)$/m);
  t.match(text, /n2 +2b +https:\/\/10\.0\.0\.12:2379 +no \(no leader\)/);
  t.match(text, /n1 +1a +https:\/\/10\.0\.0\.11:2379 +yes +\*/, 'the leader is starred');
  t.match(text, /10\.0\.0\.12:2390 .* ECONNREFUSED/);
  t.match(text, /10\.0\.0\.66 \(evil\): wrong join token/);
  const waiting = renderStatusText(report({ phase: 'discovering', reason: 'waiting for peers: 1 of 3', caHolder: null, members: [], leader: null, ready: false }));
  t.match(waiting, /CA holder: +\(not chosen yet\)/);
  t.notMatch(waiting, /MEMBERS/);
});

t.test('metrics are valid Prometheus text with one active phase', async (t) => {
  const text = renderMetrics(report(), true);
  for (const line of text.trim().split('\n')) {
    t.match(line, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z]+="[^"]*"\})? -?\d+)$/, line);
  }
  t.equal((text.match(/^etcd_agent_phase\{phase="[a-z-]+"\} 1$/gm) ?? []).length, 1);
  t.match(text, /^etcd_agent_etcd_members_healthy 1$/m);
  t.match(text, /^etcd_agent_certificate_expiry_seconds\{file="\/etc\/etcd\/pki\/server.crt"\} \d+$/m);
  t.match(renderMetrics(report(), false), /^etcd_agent_up 0$/m);
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
