import { ensureNodeRecord, type NodeRecord } from '../../etcd/node-records.js';
import type { EtcdTls } from '../../etcd/client.js';
import type { Logger } from '../../util/log.js';
import type { Candidate } from '../peer/protocol.js';
import type { Controller } from './controller.js';

/**
 * Keeps this node's `nodes/<name>` record in etcd (DAY2-PLAN.md shape) when
 * it is missing or says something else. The CA holder reads it before letting
 * a member whose certificate expired re-enroll with the join token.
 *
 * Interim: the membership controller (h-m1) writes the same record; once it
 * is merged this controller is redundant and can be dropped.
 */
export class NodeRecordController implements Controller {
  readonly name = 'node-record';
  readonly intervalMs = 30_000;

  constructor(
    private readonly cluster: string,
    private readonly self: () => Candidate,
    private readonly endpoints: () => string[],
    private readonly tls: () => EtcdTls | undefined,
    private readonly logger: Logger,
  ) {}

  async reconcile(): Promise<void> {
    const tls = this.tls();
    if (!tls) return;
    const record: NodeRecord = { ...this.self(), updatedAt: new Date().toISOString() };
    if (await ensureNodeRecord(this.endpoints(), tls, this.cluster, record, 3000)) {
      this.logger.info({ component: 'node-record', name: record.name, nodeId: record.nodeId, address: record.address }, 'wrote this node\'s nodes/<name> record in etcd');
    }
  }
}
