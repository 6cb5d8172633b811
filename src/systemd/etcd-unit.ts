/**
 * etcd.service as etcd-agent writes it to /etc/systemd/system/etcd.service.
 * Pure: typed input in, unit text out; the systemd backend writes it with
 * writeFileAtomic and reloads systemd only when the text changed.
 *
 * Why the unit looks the way it does:
 * - Same name as Debian's /lib/systemd/system/etcd.service: a unit file of the
 *   same name in /etc replaces the packaged one as a whole, so nothing of it
 *   remains — not its `Environment=ETCD_DATA_DIR=/var/lib/etcd/default`, not
 *   its `EnvironmentFile=-/etc/default/etcd`, not its `Alias=etcd2.service`.
 *   Only drop-ins (etcd.service.d/*.conf) still apply; the backend checks the
 *   loaded unit for foreign environment files after every reload.
 * - Type=notify: etcd says READY=1 once it has joined a cluster with quorum,
 *   so `active` means "serving", and the agent starts it with --no-block.
 * - TimeoutStartSec=infinity: during bootstrap the first member legitimately
 *   waits for the others for as long as they take to be installed and to
 *   enroll (minutes, or longer when a machine is late). A finite timeout would
 *   only kill and restart an etcd that is doing the right thing — waiting —
 *   and restarting does not bring quorum closer. Liveness of a started etcd is
 *   watched by the agent (/readyz) and by Restart=always on exit.
 * - Restart=always with StartLimitIntervalSec=0: systemd keeps etcd running
 *   without ever giving up; RestartSec keeps a crash loop from spinning.
 * - Two triggering conditions (`ConditionPathExists=|`): etcd starts only
 *   when its data dir holds a member (`<dataDir>/member`), or when the agent
 *   has just allowed a start on an empty data dir (the `startEmptyMarker`
 *   file, written right before the first start of a new member and removed
 *   once etcd has written its data). Without this, etcd.service — enabled,
 *   so started at boot before the agent can look — would start on a wiped
 *   data dir with state `existing` under the old member id and panic in a
 *   loop on the raft log it lost, writing a fresh WAL each time; a condition
 *   that fails leaves the unit inactive and the data dir untouched, and the
 *   agent re-adds the member properly.
 * - Hardening: etcd needs its data dir writable, its config/keys readable and
 *   TCP; everything else is closed. No capabilities at all (ports 2379/2380
 *   are unprivileged), no new privileges, read-only OS, private /tmp and /dev.
 */
import { SvcSpecInvalid } from './errors.js';

export interface EtcdUnitInput {
  /** Absolute path of the etcd binary; ExecStart runs it without arguments (etcd reads ETCD_* from the environment). */
  binary: string;
  /** The ETCD_* environment file (etcd.conf). */
  envFile: string;
  /** etcd's data dir: the only path the unit may write. */
  dataDir: string;
  user: string;
  group: string;
  /** Seconds between an exit and the restart (default 5). */
  restartSec?: number;
  /** When set, etcd starts only if `<dataDir>/member` or this file exists (see the header). */
  startEmptyMarker?: string;
}

export const DEFAULT_RESTART_SEC = 5;

/**
 * Characters systemd would interpret in a path (whitespace splits lists,
 * quotes and backslashes escape, `%` is a specifier, `$` expands in
 * ExecStart). Our paths never need them; refusing them keeps the unit exact.
 */
const PLAIN_PATH = /^\/[^\s"'\\%$;]*$/;
/** POSIX-ish user/group names as useradd accepts them. */
const ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;

function checkPath(field: string, value: string): void {
  if (!PLAIN_PATH.test(value)) {
    throw SvcSpecInvalid(field, `(${JSON.stringify(value)}) must be an absolute path without blanks, quotes, backslashes, '%', '$' or ';'`);
  }
}

export function renderEtcdUnit(input: EtcdUnitInput): string {
  checkPath('binary', input.binary);
  checkPath('envFile', input.envFile);
  checkPath('dataDir', input.dataDir);
  if (input.startEmptyMarker !== undefined) checkPath('startEmptyMarker', input.startEmptyMarker);
  if (input.dataDir === '/') throw SvcSpecInvalid('dataDir', 'must not be /');
  for (const [field, value] of [['user', input.user], ['group', input.group]] as const) {
    if (!ACCOUNT.test(value)) throw SvcSpecInvalid(field, `(${JSON.stringify(value)}) is not a valid account name`);
  }
  const restartSec = input.restartSec ?? DEFAULT_RESTART_SEC;
  if (!Number.isInteger(restartSec) || restartSec < 1 || restartSec > 3600) {
    throw SvcSpecInvalid('restartSec', `(${restartSec}) must be a whole number of seconds between 1 and 3600`);
  }

  return `${[
    '# etcd.service — written by etcd-agent. It will be overwritten: do not edit.',
    '# Change the etcd-agent configuration instead (/etc/etcd-agent/config.yaml by',
    '# default), or add a drop-in (systemctl edit etcd) for local resource limits.',
    '# This file replaces the distribution\'s /lib/systemd/system/etcd.service',
    '# (same unit name; /etc wins), including its EnvironmentFile=/etc/default/etcd.',
    '',
    '[Unit]',
    'Description=etcd key-value store (managed by etcd-agent)',
    'Documentation=man:etcd(1)',
    'After=network-online.target',
    'Wants=network-online.target',
    // Never stop retrying: the agent relies on systemd to keep etcd up.
    'StartLimitIntervalSec=0',
    ...(input.startEmptyMarker === undefined
      ? []
      : [
          '# Never on a wiped data dir (see etcd-agent\'s etcd-unit.ts): only on data, or when the agent allows a first start.',
          `ConditionPathExists=|${input.dataDir}/member`,
          `ConditionPathExists=|${input.startEmptyMarker}`,
        ]),
    '',
    '[Service]',
    'Type=notify',
    `EnvironmentFile=${input.envFile}`,
    `ExecStart=${input.binary}`,
    `User=${input.user}`,
    `Group=${input.group}`,
    'Restart=always',
    `RestartSec=${restartSec}s`,
    // READY=1 comes only with quorum; see the header of etcd-unit.ts.
    'TimeoutStartSec=infinity',
    'LimitNOFILE=65536',
    '',
    '# Sandbox: etcd writes its data dir and nothing else.',
    'UMask=0077',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${input.dataDir}`,
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'ProcSubset=pid',
    // Only root and the etcd user are mapped: other users' files are "nobody" to etcd.
    'PrivateUsers=yes',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'MemoryDenyWriteExecute=yes',
    'RemoveIPC=yes',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallFilter=~@privileged @resources',
    // A refused call fails with EPERM instead of killing etcd (Go tolerates EPERM, e.g. on setrlimit).
    'SystemCallErrorNumber=EPERM',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n')}\n`;
}
