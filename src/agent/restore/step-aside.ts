import { rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { syncDir } from '../../util/atomic-write.js';
import type { AgentConfig } from '../config/types.js';
import { asideStamp, setAsideDataDir, setAsideStateFiles } from './set-aside.js';

/** The state files that make a node a formed member of a particular cluster. */
export const MEMBERSHIP_STATE_FILES = ['formed.json', 'enrollment.json', 'view.json', 'members.json', 'join.json', 'rejoin.json'];

/**
 * A member of a cluster that was replaced by a restore stops being one, in an
 * order where a crash at any point leaves a node that cannot serve the old
 * cluster: etcd stopped first; then its membership state and etcd.conf moved
 * into `<stateDir>/superseded-<time>/` (without etcd.conf neither systemd at
 * boot nor the agent can start etcd; without formed.json the agent starts as
 * a new agent); then the data dir renamed to `<dataDir>.superseded-<time>`
 * (a crash before this leaves an unclaimed data dir, which the agent refuses
 * to start on). Nothing is deleted. Identity, node key and CA files stay.
 */
export async function stepAside(config: AgentConfig, stopEtcd: () => Promise<void>): Promise<{ stateAside: string; dataAside: string | undefined }> {
  await stopEtcd();
  const stamp = asideStamp();
  const stateAside = await setAsideStateFiles(config.paths.stateDir, MEMBERSHIP_STATE_FILES, 'superseded', stamp, 'move');
  await rename(config.paths.confFile, join(stateAside, basename(config.paths.confFile))).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await syncDir(stateAside);
  const dataAside = await setAsideDataDir(config.etcd.dataDir, 'superseded', stamp);
  return { stateAside, dataAside };
}
