import type { KnownMembers, StateStore } from '../bootstrap/state-store.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';

/**
 * Keeps the last member list the health controller saw in the state dir
 * (members.json), written only when it changes. After a restart, and for
 * `etcd-agent restore` with etcd stopped, it is the only record of members
 * that joined after the initial ones.
 */
export class KnownMembersRecorder {
  private last = '';

  constructor(private readonly store: StateStore) {}

  async record(o: ClusterObservation): Promise<void> {
    if (!o.clusterId || o.members.length === 0) return;
    const members: KnownMembers['members'] = o.members.map((m) => ({ name: m.name, id: m.id, clientUrls: m.clientUrls, peerUrls: m.peerUrls }));
    const key = JSON.stringify({ clusterId: o.clusterId, members });
    if (key === this.last) return;
    await this.store.saveKnownMembers({ clusterId: o.clusterId, members, seenAt: new Date().toISOString() });
    this.last = key;
  }
}
