/**
 * Readiness from what the agent already holds: a formed node is ready only
 * while its last health observation is fresh and healthy AND the service
 * manager says etcd is active (it knows at once when etcd was killed; the
 * next health check may be seconds away).
 */
import t from 'tap';
import { buildStatusReport, caHolderStatus, type StatusInput } from '../../src/agent/status/report.js';
import { NO_RENEWAL, type CaRoleStatus } from '../../src/agent/status/model.js';
import { viewMember } from '../helpers/fixtures.js';
import { readinessReason } from '../../src/agent/status/server.js';
import type { AgentConfig } from '../../src/agent/config/types.js';
import type { ServiceActiveState } from '../../src/systemd/service-manager.js';

const config = {
  cluster: { name: 'prod', size: 1 },
  node: { name: 'n1', advertiseAddress: '10.0.0.11', advertiseAddressSource: 'config' },
  peerApi: { listenAddress: '10.0.0.11', port: 2390 },
  statusApi: { host: '127.0.0.1', port: 2391 },
  pki: { certValidityMs: 365 * 86_400_000, caValidityDays: 3650, expiryWarningMs: 7 * 86_400_000 },
} as unknown as AgentConfig;

function input(state: ServiceActiveState, over: Partial<StatusInput> = {}): StatusInput {
  return {
    version: '0.1.0',
    config,
    nodeId: 'a'.repeat(32),
    phase: 'formed',
    reason: 'all 1 members healthy',
    phaseSince: '2026-12-01T00:00:00.000Z',
    lastError: null,
    view: undefined,
    caRole: undefined,
    formed: { clusterId: 'c1', memberId: 'm1' },
    observation: {
      clusterId: 'c1',
      localMemberId: 'm1',
      leaderId: 'm1',
      members: [{ name: 'n1', id: 'm1', peerUrls: [], clientUrls: ['https://10.0.0.11:2379'], isLearner: false, healthy: true }],
      complete: true,
      localHealthy: true,
      reason: 'all 1 members healthy',
    },
    observationFresh: true,
    discovery: { sources: [], problems: [] },
    peers: [],
    refusals: [],
    certificates: [],
    certificateRenewal: NO_RENEWAL,
    controllers: [],
    snapshots: { enabled: false, intervalMs: 0, dir: '/var/lib/etcd-agent/snapshots', keep: 24, nextDueAt: null, inProgress: null, lastSuccess: null, lastFailure: null, successes: 0, failures: 0, consecutiveFailures: 0, files: [] },
    service: { kind: 'systemd', status: { state, detail: `etcd is ${state}`, restarts: 0, recentLog: [] } },
    ...over,
  };
}

t.test('ready needs a fresh healthy observation and an active etcd service', async (t) => {
  t.equal(buildStatusReport(input('active')).ready, true, 'active and healthy: ready');
  for (const state of ['activating', 'failed', 'inactive', 'deactivating', 'unknown'] as const) {
    const report = buildStatusReport(input(state));
    t.equal(report.ready, false, `${state}: not ready, even though the last health check was healthy`);
    t.equal(readinessReason(report), `the etcd service is ${state}: etcd is ${state}`, `${state}: the reason says so`);
  }
  t.equal(buildStatusReport(input('active', { observationFresh: false })).ready, false, 'a stale observation vouches for nothing');
  t.equal(buildStatusReport(input('active', { formed: undefined, phase: 'forming' })).ready, false, 'not formed: not ready');
});

t.test('the CA holder: the view\'s lowest id while forming, the election\'s leader once formed', async (t) => {
  const view = [viewMember(1), viewMember(2), viewMember(3)];
  const self = viewMember(1).nodeId;
  const role = (over: Partial<CaRoleStatus>): CaRoleStatus => ({
    state: 'standby',
    reason: 'waiting in the CA-role election',
    since: '2026-12-01T00:00:00.000Z',
    keySource: 'escrow',
    escrow: 'present',
    holder: null,
    observedSince: null,
    heldSince: null,
    timesElected: 0,
    lastElectedAt: null,
    ...over,
  });
  const first = caHolderStatus({ view, nodeId: self, formed: undefined, caRole: undefined });
  t.match(first, { nodeId: viewMember(1).nodeId, name: viewMember(1).name, address: viewMember(1).address, self: true, since: null, source: 'initial-members' }, 'forming: the lowest id');
  const formed = { clusterId: 'c1', memberId: 'm1' };
  t.match(caHolderStatus({ view, nodeId: self, formed, caRole: role({}) }), { source: 'initial-members' }, 'formed, election not seen yet since start: the lowest id, labelled so');
  const n2 = { ...viewMember(2), since: '2026-12-01T00:01:00.000Z' };
  const elected = caHolderStatus({ view, nodeId: self, formed, caRole: role({ observedSince: '2026-12-01T00:00:01.000Z', holder: n2 }) });
  t.same(elected, { nodeId: n2.nodeId, name: n2.name, address: n2.address, peerApiPort: n2.peerApiPort, self: false, since: n2.since, source: 'election' }, 'formed: the election\'s leader');
  t.equal(caHolderStatus({ view, nodeId: self, formed, caRole: role({ observedSince: '2026-12-01T00:00:01.000Z' }) }), null, 'formed, nobody leads: none (never the dead first holder)');
  t.equal(caHolderStatus({ view: undefined, nodeId: self, formed, caRole: role({ observedSince: 'x', holder: { ...viewMember(1), since: 'y' } })})?.self, true, 'a node that joined later (no view) sees itself as holder');
  t.equal(buildStatusReport(input('active', { view, formed: undefined, phase: 'forming', caRole: role({}) })).caRole, null, 'no CA role section while forming');
});

t.test('a certificate within pki.expiryWarning of its end fails readiness, and /status says why', async (t) => {
  const now = Date.parse('2030-01-01T00:00:00.000Z');
  const fact = (kind: 'ca' | 'server' | 'client', file: string, leftMs: number) => ({
    file,
    kind,
    issuedAt: new Date(now - 300 * 86_400_000),
    notAfter: new Date(now + leftMs),
    lifetimeMs: 300 * 86_400_000 + leftMs,
    receivedAt: new Date(now - 300 * 86_400_000),
    fingerprint: file,
  });
  const healthy = [fact('ca', '/pki/ca.crt', 3000 * 86_400_000), fact('server', '/pki/server.crt', 100 * 86_400_000), fact('client', '/pki/etcdctl.crt', 100 * 86_400_000)];
  const renewal = { nextRenewalAt: '2030-02-01T00:00:00.000Z', lastRenewal: null, lastError: 'peer n1 unreachable', renewals: 0, failures: 3, reenrolled: null, clockOffset: null };

  const fine = buildStatusReport(input('active', { certificates: healthy, certificateRenewal: renewal, now }));
  t.equal(fine.ready, true, 'far from expiry: ready');
  t.equal(fine.certificateRenewal.warning, null);
  const server = fine.certificates.find((c) => c.kind === 'server')!;
  t.equal(server.secondsLeft, 100 * 86_400, 'seconds left, for /metrics');
  t.equal(server.renewAt, '2030-02-01T00:00:00.000Z', 'next renewal');
  t.equal(fine.certificates.find((c) => c.kind === 'ca')!.renewAt, null, 'the CA is not renewed by the agent');

  const soon = [healthy[0]!, fact('server', '/pki/server.crt', 3 * 86_400_000), healthy[2]!];
  const report = buildStatusReport(input('active', { certificates: soon, certificateRenewal: renewal, now }));
  t.equal(report.ready, false, 'within 7d of expiry: not ready');
  t.match(report.certificateRenewal.warning, /\/pki\/server\.crt expires at 2030-01-04.*within pki\.expiryWarning \(7d\); last renewal attempt failed: peer n1 unreachable/);
  t.equal(readinessReason(report), report.certificateRenewal.warning, '/readyz gives that reason');

  const off = buildStatusReport(input('active', { certificates: soon, certificateRenewal: renewal, now, config: { ...config, pki: { ...config.pki, expiryWarningMs: 0 } } }));
  t.equal(off.ready, true, 'pki.expiryWarning 0: never');
});
