import Fastify, { type FastifyInstance } from 'fastify';
import type { StatusReport } from './model.js';

export interface StatusSource {
  report(): StatusReport;
  /** True while the agent's main loop has ticked recently. */
  loopAlive(): boolean;
  /** Prometheus exposition (status/metrics.ts); answers from memory. */
  metrics: { text(): Promise<string>; readonly contentType: string };
}

/**
 * The local status API. It binds a loopback address only (config validation
 * refuses anything else) and answers from memory.
 */
export function createStatusServer(source: StatusSource): FastifyInstance {
  // Loopback only, but a local process can still hold connections open: time out idle and slow ones.
  const app = Fastify({ logger: false, bodyLimit: 1024, connectionTimeout: 10_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 });

  app.get('/healthz', async (_req, reply) => {
    if (source.loopAlive()) return { status: 'ok' };
    return reply.code(503).send({ status: 'stalled', reason: 'the agent main loop has not run recently' });
  });

  app.get('/readyz', async (_req, reply) => {
    const report = source.report();
    if (report.ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', phase: report.phase, reason: readinessReason(report) });
  });

  app.get('/status', async () => source.report());

  app.get('/metrics', async (_req, reply) => {
    const text = await source.metrics.text();
    return reply.type(source.metrics.contentType).send(text);
  });

  return app;
}

export function readinessReason(report: StatusReport): string {
  if (report.phase !== 'formed') return `${report.phase}: ${report.reason}`;
  if (report.certificateRenewal.warning) return report.certificateRenewal.warning;
  if (report.etcdService.state !== 'active') return `the etcd service is ${report.etcdService.state}: ${report.etcdService.detail}`;
  const local = report.members.find((m) => m.id === report.localMemberId);
  if (!local) return 'this node is not (yet) listed as an etcd member';
  if (!local.healthy) return `local etcd member is not healthy${local.reason ? `: ${local.reason}` : ''}`;
  if (!report.leader) return 'the cluster has no leader';
  return report.reason;
}
