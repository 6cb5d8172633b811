import { readdir } from 'node:fs/promises';
import type { ServiceManager, ServiceSpec } from '../../systemd/service-manager.js';
import { checkBinary } from '../../systemd/binary.js';
import { AgentError, describeError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';
import type { StateStore, Enrollment } from '../bootstrap/state-store.js';
import type { AgentConfig } from '../config/types.js';
import { writeEtcdFiles } from '../files/etcd-files.js';
import type { PkiPaths } from '../files/pki-files.js';
import type { Controller } from './controller.js';

/**
 * Keeps etcd running on the right files: writes etcd.conf and etcdctl.env,
 * installs the service, and (re)starts etcd when it is not running or when
 * what it runs from changed. Idempotent: on a steady node it writes nothing
 * and touches nothing. Used by bring-up (state `new`) and, after formation,
 * as the service controller (state `existing`).
 */
export class EtcdService {
  private enabled = false;

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

  /** Returns what it did, for the phase reason, or undefined when nothing was needed. */
  async ensureRunning(enrollment: Enrollment, state: 'new' | 'existing'): Promise<string | undefined> {
    const confChanged = await writeEtcdFiles(this.config, enrollment, state, this.pki);
    const unit = await this.manager.install(this.spec());
    if (unit.changed || !this.enabled) {
      await this.manager.enable();
      this.enabled = true;
    }
    const current = this.manager.status().state;
    const running = current === 'active' || current === 'activating';
    if (running && !unit.changed && !confChanged) return undefined;
    // A joiner starts its first etcd as `existing`: its data dir is claimed then, as a new member's is.
    if (state === 'new' || enrollment.joined) await this.claimDataDir(enrollment);
    const did = `${running ? 'restarting' : 'starting'} etcd (${this.manager.kind} service manager)`;
    if (running) await this.manager.restart();
    else await this.manager.start();
    return did;
  }

  /**
   * etcd ignores the initial cluster when its data dir already holds data, so
   * starting it on someone else's data would silently join the wrong cluster.
   * The first start records that the data dir is ours; later starts trust it.
   */
  private async claimDataDir(enrollment: Enrollment): Promise<void> {
    if (enrollment.dataDirClaimedAt) return;
    const entries = await readdir(this.config.etcd.dataDir).catch(() => [] as string[]);
    if (entries.length > 0) {
      throw new AgentError(
        'EA_ETCD_DATA_DIR_IN_USE',
        `etcd data dir ${this.config.etcd.dataDir} already holds data this agent did not create; move it away or set etcd.dataDir to an empty directory`,
      );
    }
    enrollment.dataDirClaimedAt = new Date().toISOString();
    await this.store.saveEnrollment(enrollment);
    failpoint('data-dir-claimed');
  }

  private spec(): ServiceSpec {
    return {
      name: 'etcd',
      binary: this.config.etcd.binary,
      envFile: this.config.paths.confFile,
      dataDir: this.config.etcd.dataDir,
      workDir: this.config.paths.stateDir,
      user: 'etcd',
    };
  }
}

/** The service controller: after formation, etcd keeps running from `existing` files. */
export class ServiceController implements Controller {
  readonly name = 'service';
  readonly intervalMs = 0; // every tick: a crashed etcd is restarted at once

  constructor(
    private readonly service: EtcdService,
    private readonly enrollment: () => Enrollment,
    private readonly acted: (what: string) => void,
  ) {}

  async reconcile(): Promise<void> {
    const did = await this.service.ensureRunning(this.enrollment(), 'existing');
    if (did) this.acted(did);
  }
}
