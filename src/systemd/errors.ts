import { defineError } from '../util/errors.js';

export const SvcBinaryMissing = defineError(
  'EA_SVC_BINARY_MISSING',
  (path: string, reason: string) =>
    `the etcd binary ${path} cannot be run (${reason}); install etcd (apt-get install etcd-server, or dnf install etcd) or set etcd.binary in the agent config to where it is.`,
);

export const SvcNotInstalled = defineError(
  'EA_SVC_NOT_INSTALLED',
  (name: string) => `service ${name} was asked to run before it was installed; call install(spec) first (this is a bug in the agent).`,
);

export const SvcSpecInvalid = defineError(
  'EA_SVC_SPEC_INVALID',
  (field: string, problem: string) => `service spec field ${field} ${problem}; fix the agent configuration.`,
);

export const SvcEnvFileUnreadable = defineError(
  'EA_SVC_ENVFILE_UNREADABLE',
  (path: string, reason: string) =>
    `cannot read the service environment file ${path} (${reason}); it is written by the agent before etcd starts — check the path and its permissions.`,
);

export const SvcStopFailed = defineError(
  'EA_SVC_STOP_FAILED',
  (what: string, pid: number, ms: number) =>
    `${what} (pid ${pid}) is still running ${ms} ms after SIGKILL; look at it with 'ps -o pid,stat,cmd -p ${pid}' and stop it by hand.`,
);
