import { existsSync } from 'node:fs';
import { ProcessServiceManager } from '../systemd/process-backend.js';
import type { ServiceManager } from '../systemd/service-manager.js';
import { SystemdServiceManager } from '../systemd/systemd-backend.js';
import { AgentError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { AgentConfig } from './config/types.js';

/** True when systemd is PID 1 (the test sd_booted(3) uses). */
export function systemdIsRunning(): boolean {
  return existsSync('/run/systemd/system');
}

export interface ServiceManagerChoice {
  kind: 'systemd' | 'process';
  /** In words, for the log: why this backend. */
  why: string;
}

/**
 * Pure decision (exported for tests):
 * - `systemd`: systemd, and it must be PID 1 — a unit nobody loads would never run.
 * - `process`: the agent supervises etcd itself.
 * - `auto`: systemd where systemd is PID 1, else process. With `--root` on a
 *   systemd host, process too: a unit under the root is not one systemd reads,
 *   and several agents on one machine cannot share one etcd.service.
 */
export function decideServiceManager(
  config: Pick<AgentConfig, 'serviceManager' | 'paths'>,
  systemdRunning: boolean,
): ServiceManagerChoice {
  switch (config.serviceManager) {
    case 'process':
      return { kind: 'process', why: 'serviceManager: process' };
    case 'systemd':
      if (!systemdRunning) {
        throw new AgentError(
          'EA_SVC_SYSTEMD_UNAVAILABLE',
          'serviceManager: systemd, but systemd is not running this host (/run/systemd/system is missing); set serviceManager: process (or auto) in the agent config',
        );
      }
      return { kind: 'systemd', why: 'serviceManager: systemd' };
    case 'auto':
      if (!systemdRunning) return { kind: 'process', why: 'auto: systemd is not PID 1 on this host' };
      if (config.paths.root !== '/') {
        return { kind: 'process', why: `auto: paths.root is ${config.paths.root}, and systemd only reads units from the real /etc/systemd/system` };
      }
      return { kind: 'systemd', why: 'auto: systemd is PID 1 on this host' };
  }
}

export function chooseServiceManager(
  config: Pick<AgentConfig, 'serviceManager' | 'paths'>,
  logger: Logger,
  systemdRunning: boolean = systemdIsRunning(),
): ServiceManager {
  const choice = decideServiceManager(config, systemdRunning);
  logger.info({ component: 'service', backend: choice.kind, why: choice.why }, 'etcd service manager chosen');
  if (choice.kind === 'systemd') {
    return new SystemdServiceManager(logger.child({ component: 'etcd-systemd' }), { unitFile: config.paths.unitFile });
  }
  return new ProcessServiceManager(logger.child({ component: 'etcd-process' }));
}
