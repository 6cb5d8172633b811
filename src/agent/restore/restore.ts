import { randomBytes } from 'node:crypto';
import { chmod, copyFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { clusterIdFor, etcdctlSnapshotRestore, memberIdFor } from '../../etcd/restore.js';
import { keyIdOfPublicKey } from '../../pki/index.js';
import { syncDir } from '../../util/atomic-write.js';
import { defineError, describeError } from '../../util/errors.js';
import { StateStore, type CommittedView, type Enrollment, type FormedMarker } from '../bootstrap/state-store.js';
import type { AgentConfig } from '../config/types.js';
import { clientUrl, writeEtcdFiles } from '../files/etcd-files.js';
import { pkiPaths } from '../files/pki-files.js';
import type { Candidate } from '../peer/protocol.js';
import { preflight } from './preflight.js';
import { asideStamp, setAsideDataDir, setAsideStateFiles } from './set-aside.js';

export const RestoreFailed = defineError('EA_RESTORE_FAILED', (step: string, why: string, state: string) => `restore failed while ${step}: ${why}. ${state}`);

const RESTORE_TIMEOUT_MS = 30 * 60_000;
const MARKER = 'restore-in-progress.json';
const STATE_FILES = ['formed.json', 'enrollment.json', 'view.json', 'holder.json', 'members.json', 'join.json'];

export interface RestoreOptions {
  snapshot: string;
  force: boolean;
  skipHashCheck: boolean;
  say: (line: string) => void;
}

export interface RestoreOutcome {
  oldClusterId: string;
  clusterId: string;
  memberId: string;
  revision: number;
  dataDirAside: string | undefined;
  backupDir: string;
}

/**
 * `etcd-agent restore`: this host becomes the only member of a new cluster
 * built from the snapshot. New initial-cluster token, hence new member and
 * cluster ids; the CA, the node's certificates and the join token are kept,
 * so the other hosts come back through the normal join path.
 *
 * Steps, each safe to repeat: the state files are copied to
 * `<stateDir>/before-restore-<time>/` and a marker written (the agent does not
 * start while it exists; a second run starts over from that copy); etcdctl
 * restores into a new directory beside the data dir; the old data dir is
 * renamed `<dataDir>.before-restore-<time>` (never deleted) and the new one
 * put in its place; the state is rewritten so the agent starts formed on the
 * new cluster (view and enrollment of this node alone, formed marker with the
 * new ids and the ids it replaces), etcd.conf and etcdctl.env with it; the
 * marker is removed last.
 */
export async function restoreFromSnapshot(config: AgentConfig, options: RestoreOptions): Promise<RestoreOutcome> {
  const { say } = options;
  const snapshotPath = resolve(options.snapshot);
  const checked = await preflight(config, snapshotPath, options);
  const { original, pki } = checked;
  const store = new StateStore(config.paths.stateDir);
  const stamp = asideStamp();
  const dataDir = config.etcd.dataDir;

  await removeStaleRestoreDirs(dataDir);
  const backupDir = original.marker?.backupDir ?? (await setAsideStateFiles(config.paths.stateDir, STATE_FILES, 'before-restore', stamp, 'copy'));
  if (!original.marker) await copyFile(config.paths.confFile, join(backupDir, basename(config.paths.confFile))).catch(() => undefined);
  await store.saveRestoreMarker({ startedAt: new Date().toISOString(), snapshot: snapshotPath, backupDir });
  say(`saved the agent state before the restore in ${backupDir}`);

  const self: Candidate = {
    nodeId: original.enrollment.view.find((m) => m.name === config.node.name)?.nodeId ?? keyIdOfPublicKey(pki.serverKeyPem),
    name: config.node.name,
    address: config.node.advertiseAddress,
    peerApiPort: config.peerApi.port,
    etcdPeerPort: config.etcd.peerPort,
    etcdClientPort: config.etcd.clientPort,
  };
  const peerUrl = clientUrl(self.address, self.etcdPeerPort);
  const token = `${config.cluster.name}-${randomBytes(12).toString('hex')}`;
  const staging = `${dataDir}.restoring-${stamp}`;
  say(`restoring the snapshot into ${staging} (etcdctl snapshot restore, new initial-cluster token)`);
  try {
    await etcdctlSnapshotRestore({ etcdctl: checked.etcdctl, snapshot: snapshotPath, name: self.name, peerUrl, token, dataDir: staging, skipHashCheck: options.skipHashCheck, timeoutMs: RESTORE_TIMEOUT_MS });
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    // Nothing but the backup copy exists yet: let the agent start again as it was.
    if (!original.marker) await store.remove(MARKER);
    throw RestoreFailed('restoring the snapshot', describeError(err), `Nothing was changed: ${dataDir} and the agent state are as before.`);
  }

  let dataDirAside: string | undefined;
  const unchanged = `The agent state before the restore is in ${backupDir}; the agent will not start until the restore is run again.`;
  try {
    dataDirAside = await setAsideDataDir(dataDir, 'before-restore', stamp);
    if (dataDirAside) say(`moved the old data dir aside: ${dataDirAside} (kept, never deleted)`);
    await rename(staging, dataDir);
    await chmod(dataDir, 0o700);
    await syncDir(dirname(dataDir));
  } catch (err) {
    throw RestoreFailed('putting the restored data dir in place', describeError(err), `${dataDirAside ? `The old data dir is at ${dataDirAside}. ` : ''}${unchanged}`);
  }

  const memberId = memberIdFor([peerUrl], token);
  const clusterId = clusterIdFor([memberId]);
  const now = new Date().toISOString();
  const view = [self];
  // This node alone is the new cluster's initial member; an admission into the old one (`joined`) no longer applies.
  const enrollment: Enrollment = { ...original.enrollment, initialClusterToken: token, view, dataDirClaimedAt: now };
  delete enrollment.joined;
  const committed: CommittedView = { clusterName: config.cluster.name, view, committedAt: now };
  const formed: FormedMarker = {
    clusterName: config.cluster.name,
    clusterId,
    memberId,
    formedAt: now,
    restored: {
      supersedes: [...new Set([original.formed.clusterId, ...(original.formed.restored?.supersedes ?? [])])].filter((id) => id !== clusterId),
      snapshot: snapshotPath,
      revision: checked.snapshot.revision,
      at: now,
    },
  };
  try {
    await store.saveView(committed);
    await store.saveEnrollment(enrollment);
    if (original.holder) await store.saveHolder({ ...original.holder, initialClusterToken: token });
    await store.remove('join.json');
    await store.saveKnownMembers({ clusterId, members: [{ name: self.name, id: memberId, clientUrls: [clientUrl(self.address, self.etcdClientPort)], peerUrls: [peerUrl] }], seenAt: now });
    await writeEtcdFiles(config, enrollment, 'existing', pkiPaths(config.paths.pkiDir));
    // The formed marker last but one, the marker removal last: until then the agent refuses to start.
    await store.saveFormed(formed);
    await store.remove(MARKER);
  } catch (err) {
    throw RestoreFailed('writing the agent state for the new cluster', describeError(err), `The restored data dir is in place${dataDirAside ? `; the old one is at ${dataDirAside}` : ''}. ${unchanged}`);
  }
  say(`this host is now the only member of the new cluster ${clusterId} (member ${memberId}), restored at revision ${checked.snapshot.revision}; it replaces cluster ${original.formed.clusterId}`);
  return { oldClusterId: original.formed.clusterId, clusterId, memberId, revision: checked.snapshot.revision, dataDirAside, backupDir };
}

/** `<dataDir>.restoring-*` directories are this command's own unfinished output from an interrupted run. */
async function removeStaleRestoreDirs(dataDir: string): Promise<void> {
  const parent = dirname(dataDir);
  const prefix = `${basename(dataDir)}.restoring-`;
  const entries = await readdir(parent).catch(() => [] as string[]);
  for (const e of entries) if (e.startsWith(prefix)) await rm(join(parent, e), { recursive: true, force: true });
}

/** What `run` says when a restore was interrupted (the agent must not start on a half-restored node). */
export async function interruptedRestore(config: AgentConfig): Promise<string | undefined> {
  const marker = await new StateStore(config.paths.stateDir).restoreMarker().catch(() => undefined);
  if (!marker) return undefined;
  return `a restore from ${marker.snapshot} started at ${marker.startedAt} did not finish; the agent does not start on a half-restored node. Run \`etcd-agent restore --snapshot ${marker.snapshot}\` again (it starts over from the state saved in ${marker.backupDir}), then start the agent`;
}
