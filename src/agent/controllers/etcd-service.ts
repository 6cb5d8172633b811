import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceManager, ServiceSpec, ServiceStatus } from '../../systemd/service-manager.js';
import { checkBinary } from '../../systemd/binary.js';
import { WriteMemo, writeFileAtomic } from '../../util/atomic-write.js';
import { AgentError, defineError, describeError, isAgentError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';
import type { StateStore, Enrollment } from '../bootstrap/state-store.js';
import type { AgentConfig } from '../config/types.js';
import { ASIDE_ENTRY_PREFIX, CLAIM_FILE, inspectDataDir, moveDataDirAside, readDataDirClaim, writeDataDirClaim } from '../files/data-dir.js';
import { writeEtcdFiles } from '../files/etcd-files.js';
import type { PkiPaths } from '../files/pki-files.js';
import type { Controller } from './controller.js';

/** The file whose presence lets etcd.service start on an empty data dir (see src/systemd/etcd-unit.ts). */
export const START_EMPTY_MARKER = 'etcd-may-start-empty';

export const DataDirWiped = defineError(
  'EA_ETCD_DATA_DIR_WIPED',
  (dir: string, found: string) =>
    `etcd data dir ${dir} ${found}, but this node is a member of a formed cluster (disk replaced or directory wiped?); etcd is not started on it — ` +
    'as `existing` under its old member id it would crash on the raft log it lost, as `new` it would found a second cluster. ' +
    'The agent asks the cluster to remove its old member and re-add it under the same name; if the data was moved by mistake, stop the agent and put it back first',
);

/**
 * Keeps etcd running on the right files: writes etcd.conf and etcdctl.env,
 * installs the service, and (re)starts etcd when it is not running or when
 * what it runs from changed. Idempotent: on a steady node it writes nothing
 * and touches nothing. Used by bring-up (state `new`) and, after formation,
 * as the service controller (state `existing`).
 */
export class EtcdService {
  private enabled = false;
  private claimFileChecked = false;
  /** etcd.conf and etcdctl.env as last found right: a steady tick stats them instead of reading them. */
  private readonly files = new WriteMemo();

  constructor(
    private readonly config: AgentConfig,
    private readonly store: StateStore,
    private readonly pki: PkiPaths,
    readonly manager: ServiceManager,
  ) {}

  /** Why etcd's binary cannot run here, or undefined when it can. */
  async cannotRun(): Promise<string | undefined> {
    try {
      await checkBinary(this.config.etcd.binary);
      return undefined;
    } catch (err) {
      return describeError(err);
    }
  }

  /**
   * Returns what it did, for the phase reason, or undefined when nothing was
   * needed. etcd starts on an empty data dir only for the first start of a
   * member, when the agent claims the dir (a new cluster's member, a joiner, a
   * re-added member whose claim was reset); a claimed data dir found without
   * etcd data under state `existing` was wiped, and etcd is not started on it
   * (DataDirWiped).
   */
  async ensureRunning(enrollment: Enrollment, state: 'new' | 'existing'): Promise<string | undefined> {
    const confChanged = await writeEtcdFiles(this.config, enrollment, state, this.pki, this.files);
    const unit = await this.manager.install(this.spec());
    if (unit.changed || !this.enabled) {
      await this.manager.enable();
      this.enabled = true;
    }
    const data = await inspectDataDir(this.config.etcd.dataDir);
    if (data.kind === 'data') {
      // etcd has written its member: from now on it starts on its data alone.
      await this.forbidEmptyStart();
      if (enrollment.dataDirClaimedAt && !this.claimFileChecked) await this.ensureClaimFile(enrollment);
    }
    // The snapshot may be seconds old (the systemd backend asks systemd at its poll's pace): a
    // decision to start etcd, or to claim its data dir, is taken on a fresh answer.
    const running = isRunning(this.manager.status().state) || isRunning((await this.manager.refreshStatus()).state);
    if (running && !unit.changed && !confChanged) return undefined;
    let aside: string | undefined;
    // A member's first start (a new cluster's, a joiner's, a re-added one's) claims the data dir.
    if (state === 'new' || (!enrollment.dataDirClaimedAt && (enrollment.joined !== undefined || data.kind !== 'data'))) {
      aside = await this.claimDataDir(enrollment, state);
      // A data dir made anew after its old one was moved aside needs its owner and mode again (systemd backend).
      if (aside) await this.manager.install(this.spec());
    }
    else if (data.kind !== 'data' && !(await this.firstStartPending())) {
      throw DataDirWiped(this.config.etcd.dataDir, data.kind === 'absent' ? 'does not exist' : data.kind === 'empty' ? 'holds no etcd data' : 'is not a directory');
    }
    if (data.kind !== 'data' || aside) await this.allowEmptyStart();
    const did = `${aside ? `moved this node's earlier etcd data aside to ${aside}; ` : ''}${running ? 'restarting' : 'starting'} etcd (${this.manager.kind} service manager)`;
    if (running) await this.manager.restart();
    else await this.manager.start();
    return did;
  }

  /**
   * Stops an etcd this node ran before its agent state was lost (systemd
   * keeps the unit enabled, and starts it at boot on the old data).
   */
  async stopEarlier(): Promise<void> {
    await this.manager.install(this.spec());
    await this.manager.stop();
  }

  /** Whether etcd's data dir holds no etcd data (absent, empty, or only lost+found and data moved aside). */
  async dataDirEmpty(): Promise<boolean> {
    return (await inspectDataDir(this.config.etcd.dataDir)).kind !== 'data';
  }

  /**
   * The claim was made and the start-empty marker written, but etcd never
   * wrote its data (the marker goes once it has): the agent was stopped
   * between claiming the data dir and etcd's first start. Starting now is that
   * first start, not a start on a wiped member.
   */
  private async firstStartPending(): Promise<boolean> {
    return readdir(this.config.paths.stateDir).then((names) => names.includes(START_EMPTY_MARKER), () => false);
  }

  /** Lets etcd.service start on the empty data dir (its ConditionPathExists); the process backend ignores it. */
  private async allowEmptyStart(): Promise<void> {
    await writeFileAtomic(
      this.startEmptyMarker(),
      '# etcd-agent: etcd may start on an empty data dir (a new member starting); removed once etcd has written its data.\n',
      { mode: 0o600 },
    );
  }

  /**
   * etcd has answered as this node's member, so it has written its data: from
   * now on an empty data dir means a wiped one. Called as soon as that is
   * known (formation, a joiner's first answer), not only on the next
   * service round, so a wipe right after formation is never taken for a
   * first start.
   */
  async firstStartDone(): Promise<void> {
    await this.forbidEmptyStart();
  }

  private async forbidEmptyStart(): Promise<void> {
    await unlink(this.startEmptyMarker()).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  private startEmptyMarker(): string {
    return join(this.config.paths.stateDir, START_EMPTY_MARKER);
  }

  /**
   * etcd ignores the initial cluster when its data dir already holds data, so
   * starting it on someone else's data would silently join the wrong cluster.
   * The first start records that the data dir is ours (in the state dir, and
   * in the data dir itself); later starts trust it. What the agent itself put
   * there (its claim, data moved aside from a mount point) is not data.
   *
   * A member that joins an existing cluster (state `existing`: a joiner, a
   * reinstalled host) and finds data that this node name claimed for this
   * cluster before — its state dir was lost — moves that data aside (never
   * deletes it): the cluster re-admitted it as a new member, and etcd would
   * otherwise run the old member's data. A new cluster's member never does:
   * old data there is refused, like any other. Returns where the data went.
   */
  private async claimDataDir(enrollment: Enrollment, state: 'new' | 'existing'): Promise<string | undefined> {
    if (enrollment.dataDirClaimedAt) return undefined;
    const dir = this.config.etcd.dataDir;
    const entries = (await readdir(dir).catch(() => [] as string[])).filter((e) => !e.startsWith(ASIDE_ENTRY_PREFIX) && e !== CLAIM_FILE);
    let aside: string | undefined;
    if (entries.length > 0) {
      const earlier = await readDataDirClaim(dir);
      const ours = earlier?.cluster === this.config.cluster.name && earlier.name === this.config.node.name;
      if (state === 'existing' && ours) {
        aside = await moveDataDirAside(dir, 'earlier-member');
      } else {
        throw new AgentError(
          'EA_ETCD_DATA_DIR_IN_USE',
          `etcd data dir ${dir} already holds data this agent did not create; move it away or set etcd.dataDir to an empty directory`,
        );
      }
    }
    const claimedAt = new Date().toISOString();
    await writeDataDirClaim(dir, { cluster: this.config.cluster.name, name: this.config.node.name, claimedAt });
    // Before the claim is recorded: a kill between the two and the next start
    // still knows that this first start has not happened (firstStartPending).
    await this.allowEmptyStart();
    enrollment.dataDirClaimedAt = claimedAt;
    await this.store.saveEnrollment(enrollment);
    failpoint('data-dir-claimed');
    this.claimFileChecked = true;
    return aside;
  }

  /** A member claimed before the claim file existed gets one (once per run). */
  private async ensureClaimFile(enrollment: Enrollment): Promise<void> {
    const dir = this.config.etcd.dataDir;
    if (!(await readDataDirClaim(dir))) {
      await writeDataDirClaim(dir, { cluster: this.config.cluster.name, name: this.config.node.name, claimedAt: enrollment.dataDirClaimedAt ?? new Date().toISOString() });
    }
    this.claimFileChecked = true;
  }

  private spec(): ServiceSpec {
    return {
      name: 'etcd',
      binary: this.config.etcd.binary,
      envFile: this.config.paths.confFile,
      dataDir: this.config.etcd.dataDir,
      workDir: this.config.paths.stateDir,
      user: 'etcd',
      startEmptyMarker: this.startEmptyMarker(),
    };
  }
}

/**
 * The service controller: after formation, etcd keeps running from `existing`
 * files. A wiped data dir is handed to `wiped` (the re-add flow) instead of
 * failing every tick.
 */
export class ServiceController implements Controller {
  readonly name = 'service';
  readonly intervalMs = 0; // every tick: a crashed etcd is restarted at once

  constructor(
    private readonly service: EtcdService,
    private readonly enrollment: () => Enrollment,
    private readonly acted: (what: string) => void,
    private readonly wiped?: (detail: string) => Promise<void>,
  ) {}

  async reconcile(): Promise<void> {
    let did: string | undefined;
    try {
      did = await this.service.ensureRunning(this.enrollment(), 'existing');
    } catch (err) {
      if (!this.wiped || !isAgentError(err, DataDirWiped.code)) throw err;
      return this.wiped(err.message);
    }
    if (did) this.acted(did);
  }
}

function isRunning(state: ServiceStatus['state']): boolean {
  return state === 'active' || state === 'activating';
}
