import { defineError } from '../util/errors.js';

/** A value meant for etcd.conf / etcdctl.env is unusable; `field` names it. */
export const EtcdConfInvalid = defineError(
  'EA_ETCD_CONF_INVALID',
  (field: string, problem: string) =>
    `etcd configuration field ${field} ${problem}; fix that value (it comes from the agent config or the enrollment answer) and try again.`,
);

/** An etcd endpoint could not be reached or did not answer in time. */
export const EtcdUnreachable = defineError(
  'EA_ETCD_UNREACHABLE',
  (endpoint: string, reason: string) =>
    `etcd at ${endpoint} did not answer: ${reason}. Check that etcd is running there (etcd-agent status; the etcd log), ` +
    `that the address and port are right, and that the CA and client certificate belong to this cluster.`,
);

/** A file is not a usable etcd snapshot; `why` says what the check found. */
export const SnapshotInvalid = defineError(
  'EA_SNAPSHOT_INVALID',
  (file: string, why: string) =>
    `${file} is not a usable etcd snapshot: ${why}. Use another snapshot (etcd-agent snapshot list shows the verified ones), or take a new one with etcd-agent snapshot save.`,
);

/** etcd refused a membership change (too many learners, learner not in sync, not enough started members, ...). */
export const EtcdMemberOpRefused = defineError(
  'EA_ETCD_MEMBER_OP',
  (what: string, etcdSays: string) => `etcd refused to ${what}: ${etcdSays}`,
);

/** A record under /etcd-agent/<cluster>/ is not what the agents write there. */
export const EtcdRecordInvalid = defineError(
  'EA_ETCD_RECORD_INVALID',
  (key: string, problem: string) =>
    `the agents' record ${key} in etcd ${problem}; it is ignored — if it persists, delete or fix that key with etcdctl (the agents write it again)`,
);
