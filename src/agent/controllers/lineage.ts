import { endpointStatus, type EtcdTls } from '../../etcd/client.js';
import { clusterKeys } from '../../etcd/keys.js';
import { readRestoredRecord, revokeLeasesUnder, writeRestoredRecord, type RestoredRecord } from '../../etcd/lineage.js';
import { defineError, describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { Enrollment, FormedMarker, KnownMembers, StateStore } from '../bootstrap/state-store.js';
import type { AgentConfig } from '../config/types.js';
import { clientUrl, localClientUrl } from '../files/etcd-files.js';
import type { ClusterObservation } from './cluster-health.js';
import { runAfter, type Controller } from './controller.js';

const PROBE_TIMEOUT_MS = 3000;

export const RestoreNotSettled = defineError(
  'EA_RESTORE_NOT_SETTLED',
  (why: string) =>
    `this cluster was restored from a snapshot and the old cluster's sessions it brought along (leases) are not revoked yet: ${why}; ` +
    'the CA-role election and membership changes wait for it, and the agent tries again',
);

/** Evidence that this node's cluster was restored into another one. */
export interface Supersession {
  /** The member that answered as the new cluster. */
  url: string;
  oldClusterId: string;
  record: RestoredRecord;
}

export interface LineageParts {
  config: AgentConfig;
  store: StateStore;
  formed(): FormedMarker;
  enrollment(): Enrollment;
  observation(): ClusterObservation | undefined;
  tls(): EtcdTls;
  /** Stop serving the old cluster: the conductor stops etcd, sets the data aside and starts over as a new agent. */
  superseded(evidence: Supersession): Promise<void>;
  logger: Logger;
}

/**
 * Keeps a restored cluster and the one it replaced from ever running side by
 * side under the old id.
 *
 * - On a node that ran `etcd-agent restore`, it writes the `restored` record
 *   (this cluster's id and every id it replaces) into etcd once etcd runs.
 * - On every formed node, at start (before the service controller first
 *   starts etcd: it runs first) and then every 15 s, it asks the other
 *   members it knows of — initial members, the last member list seen — which
 *   cluster they serve. One that serves another cluster whose `restored`
 *   record lists this node's cluster id means this node belongs to a cluster
 *   that was replaced: it stops its etcd at once, sets its data aside, and
 *   comes back as a new member of the new cluster through the join path.
 *
 * A member that reaches no member of the new cluster cannot know; it keeps
 * its etcd running, which alone (no quorum of the old cluster) serves nothing.
 *
 * The first time a restored cluster runs, every lease on the agent's keys came
 * from the snapshot: the old cluster's CA-role candidates, membership lock and
 * join queue places, revived by etcd for a full TTL. They are revoked before the
 * record is written, and the controllers that take leases of their own wait
 * for `settle()`: otherwise the election names a gone host as CA holder for
 * seconds, and a joiner admitted then asks that host to sign.
 */
export class LineageController implements Controller {
  readonly name = 'lineage';
  readonly intervalMs = 15_000;
  private recorded = false;

  constructor(private readonly parts: LineageParts) {}

  async reconcile(): Promise<void> {
    const formed = this.parts.formed();
    const evidence = await this.findSupersession(formed.clusterId);
    if (evidence) {
      this.parts.logger.error(
        { component: 'lineage', oldClusterId: evidence.oldClusterId, newClusterId: evidence.record.clusterId, by: evidence.record.by, at: evidence.url },
        "this node's cluster was restored from a snapshot into a new cluster; stopping etcd and rejoining the new cluster",
      );
      await this.parts.superseded(evidence);
      return;
    }
    if (formed.restored && !this.recorded) await this.record(formed).catch((err: unknown) => {
      // etcd may not run yet; the next round (or the next settle()) tries again.
      this.parts.logger.debug({ component: 'lineage', err: describeError(err) }, 'could not record the restore lineage yet');
    });
  }

  /**
   * Resolves once the restored cluster's old leases are revoked and the
   * record is written (at once on a node that was not restored); throws
   * EA_RESTORE_NOT_SETTLED while that cannot be done yet.
   */
  async settle(): Promise<void> {
    const formed = this.parts.formed();
    if (!formed.restored || this.recorded) return;
    await this.record(formed).catch((err: unknown) => {
      throw RestoreNotSettled(describeError(err));
    });
  }

  /** `inner` (a controller that takes leases), run only once settle() resolved. */
  afterRestore(inner: Controller): Controller {
    return runAfter(() => this.settle(), inner);
  }

  /** The other members' client URLs this node knows of. */
  async knownUrls(): Promise<string[]> {
    const { config, store } = this.parts;
    const own = localClientUrl(config);
    const enrollment = this.parts.enrollment();
    const urls = new Set<string>([...enrollment.view.map((m) => clientUrl(m.address, m.etcdClientPort)), ...(enrollment.joined?.clientUrls ?? [])]);
    const known: KnownMembers | undefined = await store.knownMembers().catch(() => undefined);
    for (const m of [...(known?.members ?? []), ...(this.parts.observation()?.members ?? [])]) for (const u of m.clientUrls) urls.add(u);
    urls.delete(own);
    return [...urls];
  }

  private async findSupersession(clusterId: string): Promise<Supersession | undefined> {
    const tls = this.parts.tls();
    const key = clusterKeys(this.parts.config.cluster.name).restored;
    const answers = await Promise.all(
      (await this.knownUrls()).map(async (url): Promise<Supersession | undefined> => {
        try {
          const status = await endpointStatus(url, tls, PROBE_TIMEOUT_MS);
          if (status.clusterId === clusterId) return undefined;
          const record = await readRestoredRecord(url, tls, key, PROBE_TIMEOUT_MS);
          if (record && record.clusterId === status.clusterId && record.supersedes.includes(clusterId)) return { url, oldClusterId: clusterId, record };
        } catch {
          // Unreachable or not etcd: it tells nothing either way.
        }
        return undefined;
      }),
    );
    return answers.find((a) => a !== undefined);
  }

  /**
   * Once etcd runs: the record lists this cluster and every id it replaces
   * (older ones came along in the snapshot). No record of this cluster yet
   * means this is its first run: the snapshot's leases on the agent's keys are revoked first, so a
   * record present always means they are gone (a restart never revokes the
   * sessions of the running cluster).
   */
  private async record(formed: FormedMarker): Promise<void> {
    const restored = formed.restored!;
    const url = localClientUrl(this.parts.config);
    const tls = this.parts.tls();
    const keys = clusterKeys(this.parts.config.cluster.name);
    const existing = await readRestoredRecord(url, tls, keys.restored, PROBE_TIMEOUT_MS);
    const firstRun = existing?.clusterId !== formed.clusterId;
    if (firstRun) {
      const revoked = await revokeLeasesUnder(url, tls, keys.prefix, PROBE_TIMEOUT_MS);
      this.parts.logger.info({ component: 'lineage', clusterId: formed.clusterId, revoked }, "revoked the old cluster's leases that came along in the snapshot");
    }
    const supersedes = [...new Set([...restored.supersedes, ...(existing?.supersedes ?? []), ...(existing && firstRun ? [existing.clusterId] : [])])]
      .filter((id) => id !== formed.clusterId)
      .slice(0, 64);
    const want: RestoredRecord = {
      clusterId: formed.clusterId,
      supersedes,
      restoredAt: restored.at,
      by: this.parts.config.node.name,
      snapshot: { file: restored.snapshot, revision: restored.revision },
    };
    if (firstRun || supersedes.some((id) => !existing.supersedes.includes(id))) {
      await writeRestoredRecord(url, tls, keys.restored, want, PROBE_TIMEOUT_MS);
      this.parts.logger.info({ component: 'lineage', clusterId: want.clusterId, supersedes }, 'recorded in etcd which clusters this restored one replaces');
    }
    this.recorded = true;
  }
}
