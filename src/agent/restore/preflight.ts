import { get } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { endpointHealthy, endpointStatus, type EtcdTls } from '../../etcd/client.js';
import { clusterKeys } from '../../etcd/keys.js';
import { readRestoredRecord } from '../../etcd/lineage.js';
import { findEtcdctl } from '../../etcd/restore.js';
import { verifySnapshot, type SnapshotInfo } from '../../etcd/snapshot-file.js';
import { certificateInfo } from '../../pki/index.js';
import { defineError } from '../../util/errors.js';
import { StateStore, type Enrollment, type FormedMarker, type HolderRecord, type KnownMembers, type RestoreMarker } from '../bootstrap/state-store.js';
import type { AgentConfig } from '../config/types.js';
import { clientUrl, localClientUrl } from '../files/etcd-files.js';
import { adminTlsOf, pkiPaths, readNodePki, type NodePki } from '../files/pki-files.js';

export const RestoreRefused = defineError('EA_RESTORE_REFUSED', (why: string, todo: string) => `restore refused: ${why}. Nothing was changed. ${todo}`);
export const RestoreQuorum = defineError(
  'EA_RESTORE_QUORUM',
  (why: string) =>
    `restore refused: ${why}. A restore is for a cluster that lost quorum for good; it would replace this one's data with the snapshot's and give it a new cluster id. Nothing was changed. ` +
    'Repair the cluster instead (docs/disaster-recovery.md); only if every other member is to be wiped anyway, run the restore again with --force.',
);

const PROBE_MS = 3000;

/** This node as it was before the restore (from the state dir, or from the backup an interrupted restore made). */
export interface OriginalState {
  formed: FormedMarker;
  enrollment: Enrollment;
  holder: HolderRecord | undefined;
  members: KnownMembers | undefined;
  /** Set when a restore was interrupted: its backup is the original state. */
  marker: RestoreMarker | undefined;
}

export interface Preflight {
  original: OriginalState;
  pki: NodePki;
  etcdctl: string;
  snapshot: SnapshotInfo;
}

/**
 * Everything `etcd-agent restore` checks before it changes anything: who runs
 * it, that the agent and etcd are stopped here, that this host was a member
 * and holds the CA key (new members need a signer), that etcdctl is there,
 * that the snapshot verifies — and, unless forced, that the cluster it
 * belonged to has no quorum left.
 */
export async function preflight(config: AgentConfig, snapshotFile: string, options: { force: boolean; skipHashCheck: boolean; say: (line: string) => void }): Promise<Preflight> {
  const { say } = options;
  if (process.getuid?.() !== 0) throw RestoreRefused('it must run as root (it rewrites the data dir, certificates stay root-owned)', 'Run it again with sudo.');
  const store = new StateStore(config.paths.stateDir);
  const original = await originalState(store, config);
  const pki = await readNodePki(pkiPaths(config.paths.pkiDir));
  if (!pki) throw RestoreRefused(`this host's certificates in ${config.paths.pkiDir} are incomplete`, 'Run the restore on a member whose certificates are intact, or put them back from a backup.');
  await requireCaKey(store, pki, original);
  await requireStopped(config);
  const etcdctl = await findEtcdctl(config.etcd.binary);
  if (!etcdctl) throw RestoreRefused('etcdctl is not installed (it writes the restored data dir)', 'Install it (apt-get install etcd-client, or the etcd release tarball) and run the restore again.');
  say(`verifying ${snapshotFile}`);
  const snapshot = await verifySnapshot(snapshotFile, { allowNoHash: options.skipHashCheck });
  say(`snapshot ok: revision ${snapshot.revision}, ${snapshot.totalKey} keys, ${snapshot.fileSize} bytes${snapshot.integrity === 'absent' ? ' (no integrity hash: --skip-hash-check)' : ', SHA-256 verified'}`);
  const tls = adminTlsOf(pki);
  if (options.force) say('--force: not checking whether the old cluster still has quorum');
  else await requireNoQuorum(config, original, tls, say);
  return { original, pki, etcdctl, snapshot };
}

async function originalState(store: StateStore, config: AgentConfig): Promise<OriginalState> {
  const marker = await store.restoreMarker();
  const from = marker ? new StateStore(marker.backupDir) : store;
  const [formed, enrollment, holder, members] = await Promise.all([from.formed(), from.enrollment(), from.holder(), from.knownMembers()]);
  if (!formed || !enrollment) {
    throw RestoreRefused(
      `this host never was a formed member of cluster ${config.cluster.name} (no formed.json or enrollment.json in ${from.dir})`,
      'Run the restore on a host that was a member (it keeps the cluster CA and the join token, so the others can join again).',
    );
  }
  return { formed, enrollment, holder, members, marker };
}

/** After a restore only this node can sign certificates for the hosts that rejoin: it must hold the cluster's CA key. */
async function requireCaKey(store: StateStore, pki: NodePki, original: OriginalState): Promise<void> {
  const ca = await store.caMaterial().catch(() => undefined);
  const holder = original.enrollment.view[0]?.name;
  if (!ca || certificateInfo(ca.certPem).fingerprint256 !== certificateInfo(pki.caPem).fingerprint256) {
    throw RestoreRefused(
      `this host does not hold the cluster's CA key (${store.path('ca.key')} matching ${join('pki', 'ca.crt')}), so after the restore no host could get a certificate to rejoin`,
      `Run the restore on the CA holder${holder ? ` (the initial CA holder was ${holder})` : ''}, or copy ca.key and ca.crt from the holder's state dir (or a backup) into ${store.dir} (mode 0600) first.`,
    );
  }
}

async function requireStopped(config: AgentConfig): Promise<void> {
  const { host, port } = config.statusApi;
  if (await answersHttp(host, port)) {
    throw RestoreRefused(`the agent is running on this host (its status API answers at ${host}:${port})`, 'Stop it first: systemctl stop etcd-agent etcd');
  }
  const address = config.node.advertiseAddress;
  for (const p of [config.etcd.clientPort, config.etcd.peerPort]) {
    if (await acceptsTcp(address, p)) {
      throw RestoreRefused(`something still listens on ${address}:${p}, etcd's port on this host`, 'Stop etcd first: systemctl stop etcd (with the process service manager, stopping the agent stops it).');
    }
  }
}

/** The old cluster still has quorum when any other member it had answers a linearizable read. */
async function requireNoQuorum(config: AgentConfig, original: OriginalState, tls: EtcdTls, say: (line: string) => void): Promise<void> {
  const own = localClientUrl(config);
  const urls = new Set([...original.enrollment.view.map((m) => clientUrl(m.address, m.etcdClientPort)), ...(original.enrollment.joined?.clientUrls ?? [])]);
  for (const m of original.members?.members ?? []) for (const u of m.clientUrls) urls.add(u);
  urls.delete(own);
  const oldId = original.formed.clusterId;
  say(`checking whether cluster ${oldId} still has quorum: asking ${[...urls].join(', ') || 'no other member'}`);
  const key = clusterKeys(config.cluster.name).restored;
  const found = await Promise.all(
    [...urls].map(async (url): Promise<{ restored: boolean; text: string } | undefined> => {
      let status;
      try {
        status = await endpointStatus(url, tls, PROBE_MS);
      } catch {
        return undefined;
      }
      if (status.clusterId !== oldId) {
        const record = await readRestoredRecord(url, tls, key, PROBE_MS).catch(() => undefined);
        if (record?.supersedes.includes(oldId)) {
          return { restored: true, text: `cluster ${oldId} was already restored into cluster ${record.clusterId} on ${record.by} (${url} serves it)` };
        }
        return undefined;
      }
      const health = await endpointHealthy(url, tls, PROBE_MS);
      return health.healthy ? { restored: false, text: `${url} is a healthy member of cluster ${oldId}: the cluster has a leader and answers reads` } : undefined;
    }),
  );
  const restored = found.find((f) => f?.restored);
  if (restored) {
    throw RestoreRefused(
      restored.text,
      'Two restored clusters would split the data: let this host join that cluster instead (start its agent: it sets its old data aside and rejoins), or use --force if that cluster is to be abandoned.',
    );
  }
  const quorum = found.find((f) => f !== undefined);
  if (quorum) throw RestoreQuorum(quorum.text);
  say(`no other member of cluster ${oldId} answers with quorum`);
}

function answersHttp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host, port, path: '/healthz', timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

function acceptsTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
