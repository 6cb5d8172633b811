import { existsSync } from 'node:fs';
import { ProcessServiceManager, type ServiceManager } from '../systemd/index.js';
import { AgentError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ServiceManagerKind } from './config/types.js';

/** True when systemd is PID 1 (the test sd_booted(3) uses). */
export function systemdIsRunning(): boolean {
  return existsSync('/run/systemd/system');
}

/**
 * `auto` means systemd where systemd runs the host, else the process backend.
 * The systemd backend is not in this version yet: say so instead of guessing.
 */
export function chooseServiceManager(kind: ServiceManagerKind, logger: Logger): ServiceManager {
  if (kind === 'systemd') {
    throw new AgentError(
      'EA_SVC_SYSTEMD_UNAVAILABLE',
      'serviceManager: systemd is not available in this version of etcd-agent; set serviceManager: process (or auto)',
      { exitCode: 2 },
    );
  }
  if (kind === 'auto' && systemdIsRunning()) {
    logger.warn(
      { component: 'service' },
      'systemd runs this host but this version supervises etcd itself (process backend); the etcd unit is managed in a later version',
    );
  }
  return new ProcessServiceManager(logger.child({ component: 'etcd-process' }));
}
