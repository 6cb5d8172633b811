import type { KnownMembers, StateStore } from '../bootstrap/state-store.js';
import type { ClusterObservation } from '../controllers/cluster-health.js';

/**
 * Keeps the last member list the health controller saw in the state dir
 * (members.json), written only when it changes — also across restarts: the
 * first observation after a start is compared with the file, so a reboot
 * rewrites nothing. After a restart, and for `etcd-agent restore` with etcd
 * stopped, it is the only record of members that joined after the initial ones.
 */
export class KnownMembersRecorder {
  private last: string | undefined;

  constructor(private readonly store: StateStore) {}

  async record(o: ClusterObservation): Promise<void> {
    if (!o.clusterId || o.members.length === 0) return;
    const members: KnownMembers['members'] = o.members.map((m) => ({ name: m.name, id: m.id, clientUrls: m.clientUrls, peerUrls: m.peerUrls }));
    const key = keyOf(o.clusterId, members);
    // A file that cannot be read is replaced by a fresh record.
    this.last ??= await this.store.knownMembers().then((k) => (k ? keyOf(k.clusterId, k.members) : ''), () => '');
    if (key === this.last) return;
    await this.store.saveKnownMembers({ clusterId: o.clusterId, members, seenAt: new Date().toISOString() });
    this.last = key;
  }
}

function keyOf(clusterId: string, members: KnownMembers['members']): string {
  return JSON.stringify({ clusterId, members: members.map((m) => ({ name: m.name, id: m.id, clientUrls: m.clientUrls, peerUrls: m.peerUrls })) });
}
