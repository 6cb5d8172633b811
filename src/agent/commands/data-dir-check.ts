import { readdir, stat } from 'node:fs/promises';
import { describeError } from '../../util/errors.js';
import { StateStore } from '../bootstrap/state-store.js';
import { ASIDE_ENTRY_PREFIX, CLAIM_FILE, readDataDirClaim } from '../files/data-dir.js';
import { ConfigError, type AgentConfig, type ConfigProblem } from '../config/index.js';

/**
 * etcd ignores the initial cluster when its data dir already holds data, so an
 * agent started on someone else's data would silently join the wrong cluster.
 * The agent claims the data dir (enrollment.json's dataDirClaimedAt) just
 * before etcd first starts on it; until then the dir must be empty or absent.
 * `check-config` and `run` both ask here, before anything is written; the
 * agent checks again when it claims the dir.
 */

/** Same error code as the agent's own check, which this one runs ahead of. */
export const DATA_DIR_IN_USE = 'EA_ETCD_DATA_DIR_IN_USE';

/** Why the configured data dir cannot be used by this node, or undefined. Reads only. */
export async function dataDirProblem(config: AgentConfig): Promise<ConfigProblem | undefined> {
  const dir = config.etcd.dataDir;
  const problem = (why: string): ConfigProblem => ({ key: 'etcd.dataDir', message: `etcd.dataDir ${dir} ${why}` });
  let entries: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return problem('exists and is not a directory; point etcd.dataDir at an empty directory or a path that does not exist yet');
    // What the agent itself put there (its claim, data it moved aside from a mount point) is not data.
    entries = (await readdir(dir)).filter((e) => e !== CLAIM_FILE && !e.startsWith(ASIDE_ENTRY_PREFIX));
  } catch {
    // Absent: the agent creates it. Unreadable (check-config as a user on a 0700
    // dir): nothing can be told here; the agent, as root, checks it again.
    return undefined;
  }
  if (entries.length === 0) return undefined;

  let claimedAt: string | undefined;
  try {
    claimedAt = (await new StateStore(config.paths.stateDir).enrollment())?.dataDirClaimedAt;
  } catch (err) {
    return problem(`holds data, and whether this node put it there cannot be told: ${describeError(err)}`);
  }
  if (claimedAt !== undefined && claimedAt !== '') return undefined;
  // This node name's own data for this cluster, from before its state dir was lost: the agent moves it
  // aside if the formed cluster admits it again (and refuses it, as here, if it were to found a new one).
  const claim = await readDataDirClaim(dir);
  if (claim?.cluster === config.cluster.name && claim.name === config.node.name) return undefined;
  return problem(
    `already holds data (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}) this node did not create (no claim in ${config.paths.stateDir}/enrollment.json); ` +
      'move it away or set etcd.dataDir to an empty directory — etcd would ignore the new cluster and run on that data',
  );
}

/** Throws a ConfigError (exit code 2) naming the config file, etcd.dataDir and the directory when the data dir is not this node's to use. */
export async function checkDataDir(config: AgentConfig): Promise<void> {
  const problem = await dataDirProblem(config);
  if (problem !== undefined) throw new ConfigError([problem], config.source, DATA_DIR_IN_USE);
}
