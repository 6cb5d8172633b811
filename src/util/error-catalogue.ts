/**
 * Every error code the agent reports, in one place (fastify's lib/errors.js is
 * the model). The message factories stay next to the code that throws them
 * (each subsystem's errors.ts, inline `defineError`); this table is what an
 * operator needs to know about each code, and what the rest of the agent
 * looks up: the HTTP status the peer API answers it with and the exit code of
 * a CLI command it ends. `AgentError` and `defineError` only take a code listed
 * here, so an uncatalogued code does not compile. docs/errors.md is rendered
 * from this table (`npm run gen:errors`); test/unit/error-catalogue.test.ts
 * keeps the two, and the codes used in src/, in step.
 */
export interface ErrorEntry {
  /** What happened, in one sentence. */
  readonly meaning: string;
  /** What the operator should do about it, in one sentence. */
  readonly action: string;
  /** HTTP status the peer API answers with; set only for codes the peer API sends. */
  readonly http?: number;
  /** Process exit code when the error ends a CLI command; 1 when not set. */
  readonly exit?: number;
}

/** Exit code of an error whose entry states none. */
export const DEFAULT_EXIT_CODE = 1;

export const ERROR_CATALOGUE = {
  // ---- command line ---------------------------------------------------------
  EA_CLI_USAGE: {
    meaning: 'The command line is wrong: an unknown command or option, a missing or extra argument, or a value of the wrong form.',
    action: 'Correct the command as the message says; `etcd-agent COMMAND --help` lists every option.',
    exit: 2,
  },
  EA_CLI_NOT_MEMBER: {
    meaning: "A day-2 command (such as `cluster resize`) needs the node's admin client certificate (`etcdctl.crt`, `etcdctl.key`, `ca.crt` in the pki dir), and it is not there: the command ran on a node that is not a member, or with another config or root than the agent's.",
    action: 'Run the command on a member of the formed cluster, as root, with the same `--config`/`--root` as its agent.',
  },
  EA_STATUS_BAD_ANSWER: {
    meaning: '`etcd-agent status` reached something at the status address, but it did not answer with the status JSON.',
    action: "Check that `--address` (or the config's `statusApi.address`) points at etcd-agent's status API and not at another service.",
  },
  EA_ADMIN_CERT_UNAVAILABLE: {
    meaning: "A day-2 command (snapshot, restore) needs this node's admin client certificate and key (etcdctl.crt, etcdctl.key) and the CA certificate, and cannot read them: the node has not enrolled in a cluster yet, the command does not run as root, or `--config`/`--root` point at another node.",
    action: 'Run the command as root on a member of the cluster, with the same `--config`/`--root` the agent uses.',
  },
  EA_STATUS_UNREACHABLE: {
    meaning: '`etcd-agent status` found no agent answering at the status address.',
    action: "Check that the agent is running (`systemctl status etcd-agent`) and that `--address` or the config's `statusApi.address` is where it listens.",
  },

  // ---- configuration --------------------------------------------------------
  EA_CONFIG_INVALID: {
    meaning: 'The configuration (config file, `ETCD_AGENT_*` environment variables or `init` flags) has problems; each one is listed with the key it concerns, and nothing was started or written.',
    action: 'Fix every listed key (`etcd-agent check-config` checks again without starting anything), then start the agent again.',
    exit: 2,
  },
  EA_NOT_CONFIGURED: {
    meaning: 'The config file is missing or sets no key yet, as the packages install it; `check-config` exits 2, while `run` exits 0 so that an unconfigured service does not restart in a loop.',
    action: 'Run `etcd-agent init --cluster NAME --size N --token-file FILE [--seeds HOST,...]`, then start the agent (`systemctl start etcd-agent`).',
    exit: 2,
  },

  // ---- peer API: answers this agent gives to other agents -------------------
  EA_PEER_BAD_REQUEST: {
    meaning: 'A caller sent the peer API a request it cannot use: a malformed body, or no TLS client certificate.',
    action: 'Nothing on this host; if it repeats, check that the calling host runs the same etcd-agent version, since only agents should talk to the peer API port.',
    http: 400,
  },
  EA_PEER_TOO_LARGE: {
    meaning: 'A caller sent the peer API a body larger than the limit (64 KiB); it was refused before it was read.',
    action: 'Nothing on this host; agents never send bodies that large, so the caller is not an etcd-agent or is broken.',
    http: 413,
  },
  EA_PEER_NO_ROUTE: {
    meaning: 'A caller asked the peer API for a route or method it does not have.',
    action: 'Nothing on this host; if it is another agent, it runs an incompatible version — upgrade every agent to the same release.',
    http: 404,
  },
  EA_PEER_CLUSTER_MISMATCH: {
    meaning: 'An agent of another cluster (a different `cluster.name`) said hello to this one.',
    action: 'Give both hosts the same `cluster.name` if they belong together; otherwise take the other host out of seeds or keep the clusters on separate networks.',
    http: 403,
  },
  EA_PEER_FORBIDDEN: {
    meaning: 'An authenticated caller asked for something it may not do, for example enrollment from an agent that is not the CA holder, by a node that is not an initial member, or with the join token after the cluster formed by a node no member has admitted as a learner; a renewal for another name or key, or by a node that is not a member; a client certificate asked for with the join token or with a client certificate instead of a member\'s node certificate, or under a member\'s name.',
    action: 'Read the reason in the message: agents retry against the right node by themselves, and a node that joins a formed cluster enrolls only after a member admitted it (`etcd-agent status` on it shows its place in the queue).',
    http: 403,
  },
  EA_PEER_IDENTITY: {
    meaning: "A caller proved the join token but claimed an identity that is not its own: a node id that is not the id of its TLS key, or a name or address that belongs to this node or to another initial member, or an address no peer can have.",
    action: 'Give every host its own state dir (never copy /var/lib/etcd-agent or /etc/etcd/pki between hosts) and a unique node name and advertise address; if the caller is not one of your hosts, someone holding the join token is probing the cluster: rotate the token.',
    http: 403,
  },
  EA_PEER_HELLO_EXPIRED: {
    meaning: 'A hello finish arrived for a hello this agent no longer holds: it expired, was already used, or was dropped while the agent was busy (for example under a flood of unauthenticated hellos). It says nothing about the token.',
    action: 'Nothing: the calling agent starts the hello again by itself; if it keeps happening, the agent is overloaded or flooded, see docs/peer-api-limits.md.',
    http: 403,
  },
  EA_PEER_HELLO_REQUIRED: {
    meaning: 'A caller used the peer API without a session, that is without proving first that it holds the cluster join token (or this agent restarted and forgot the session).',
    action: 'Nothing: the calling agent says hello again by itself; if the refusal persists, look at the calling agent\'s log.',
    http: 401,
  },
  EA_PEER_INTERNAL: {
    meaning: 'The peer API failed while handling a request; the details are in this agent\'s log, not in the answer.',
    action: 'Look at the agent log (`journalctl -u etcd-agent`) at that time, and report the error if the log does not explain it.',
    http: 500,
  },
  EA_PEER_NOT_READY: {
    meaning: 'A request came too early: this agent has not agreed on the initial members yet, the cluster has not formed yet (renewal), or the CA holder could not read the members from etcd for a renewal or client-certificate decision.',
    action: 'Nothing: the caller retries; if it lasts, run `etcd-agent status` on each host to see why the initial members are not agreed (peers not seen, different sizes).',
    http: 409,
  },
  EA_PEER_TOKEN_PROOF: {
    meaning: "A caller's proof of the cluster join token did not match, was replayed, or came over another TLS connection than the one it started on.",
    action: 'Give every host of the cluster the same join token (`cluster.token` or `cluster.tokenFile`); if they have the same token, something between the hosts relays connections.',
    http: 403,
  },

  // ---- peer API: answers this agent got from other agents -------------------
  EA_PEER_BAD_ANSWER: {
    meaning: 'A peer answered with something this agent cannot use: a malformed answer, or it says it belongs to another cluster.',
    action: 'Check that the peer runs the same etcd-agent version and `cluster.name`; it is ignored until it answers properly.',
  },
  EA_PEER_IMPOSTOR: {
    meaning: "A peer could not prove that it holds this cluster's join token: it has a different token, belongs to a different cluster, or something relays the connection.",
    action: "Give that host the cluster's join token, or take it out of seeds; the agent ignores it meanwhile.",
  },
  EA_PEER_REFUSED: {
    meaning: "A peer refused this agent's request; the peer's own code and reason are part of the message.",
    action: "Look up the peer's code (in parentheses at the end of the message) on this page and act on that.",
  },
  EA_PEER_SELF: {
    meaning: 'An address found by discovery (a seed or an mDNS answer) leads back to this agent itself.',
    action: 'Nothing: the agent skips its own address; take it out of seeds to keep the list tidy.',
  },
  EA_PEER_UNREACHABLE: {
    meaning: "A peer's API could not be reached or gave no usable answer in time (connection refused, timeout, TLS failure).",
    action: "Check that etcd-agent runs on that host, that its peer API port (2390 by default) is open between the hosts, and that the address in seeds is right.",
  },

  // ---- bootstrap: enrollment and the agent's state --------------------------
  EA_CA_ESCROW_FOREIGN: {
    meaning: "The CA certificate beside the CA key escrow in etcd is not one this node's etcd trusts (not in its ca.crt), so signing with it would issue certificates its members reject; this node does not take the CA role.",
    action: "Compare ca.crt on the members with the escrow's `caCertificate` (`etcdctl get /etcd-agent/<cluster>/ca/escrow`); the escrow was replaced by hand or belongs to another cluster: restore the right one, or follow the CA rotation steps in docs/ca.md.",
  },
  EA_CA_ESCROW_SEALED: {
    meaning: "The CA key escrow in etcd does not open with this node's join token: the token (or the cluster name) differs from the sealer's, or the sealed bytes or the CA certificate beside them were changed; AES-GCM cannot tell which.",
    action: 'Give this node the same join token as the other members (`cluster.tokenFile`) and restart it; until then it does not take the CA role.',
  },
  EA_CA_ESCROW_UNREADABLE: {
    meaning: 'The CA key escrow in etcd is not an escrow this agent can read: not JSON, a missing field, truncated, or a format version it does not know.',
    action: 'If an agent of another version wrote it, run the same version everywhere; if it is damaged, delete it (`etcdctl del /etcd-agent/<cluster>/ca/escrow`) and the CA holder seals it again.',
  },
  EA_CA_KEY_MISSING: {
    meaning: "On the CA holder, the CA certificate is in the state dir but its key (ca.key) is not; the key is always written first, so it was removed after the CA was made. The holder cannot sign and will not make a second CA.",
    action: 'Restore ca.key from a backup into the state dir (mode 0600); never delete ca.crt to make the agent start over, that would create a second CA the members do not trust.',
  },
  EA_ENROLL_ANSWER_INVALID: {
    meaning: "The CA holder's answer to an enrollment or renewal failed this node's checks: the certificates are not signed by the CA sent with them (for a renewal: by the CA this node already trusts), not for this node's keys, or the CA is not a CA.",
    action: "Nothing: the agent asks again; if it keeps failing, look at the CA holder's log, its CA may be damaged.",
  },
  EA_ENROLL_VIEW_MISMATCH: {
    meaning: 'The CA holder answered for other initial members or another cluster name than this node agreed on.',
    action: 'Nothing: the agent retries; if it keeps failing, compare `etcd-agent status` (cluster name, initial members) on both hosts.',
  },
  EA_JOIN_OTHER_CLUSTER: {
    meaning: 'A member being re-added to its cluster (wiped data dir, removed member) was admitted by an agent of another cluster (another cluster id); the admission is not used and nothing is started.',
    action: 'Make sure every host of this cluster has the same `cluster.name` and join token and that the seeds list only this cluster\'s hosts; the agent keeps asking its own cluster.',
  },
  EA_STATE_CORRUPT: {
    meaning: "A file in the agent's state directory cannot be read or parsed; the agent left it untouched.",
    action: 'Restore the file from a backup, or move it away to let the agent redo the step it records.',
  },

  // ---- certificates ---------------------------------------------------------
  // The PKI codes carry 403: when signing refuses an enrollment for one of
  // these reasons, the peer API answers the caller 403 and records a refusal.
  EA_PKI_ADDRESS_INVALID: {
    meaning: 'A value meant as an IP address in a certificate is not a plain IPv4 or IPv6 address.',
    action: 'Configure plain IP addresses, without host names, ports, prefixes or zone ids.',
    http: 403,
  },
  EA_PKI_CA_INVALID: {
    meaning: 'The cluster CA cannot sign: its certificate is not a CA or not readable, or its key is not RSA, not readable, or not the certificate\'s key.',
    action: "Restore the CA certificate and its key, from the same pair, into the CA holder's state directory.",
    http: 403,
  },
  EA_PKI_CERT_INVALID: {
    meaning: 'A certificate is not a readable PEM certificate as etcd-agent writes them.',
    action: 'Restore the file, or remove it so that the agent enrolls again.',
    http: 403,
  },
  EA_PKI_CSR_INVALID: {
    meaning: 'A certificate signing request is unusable: not a PEM PKCS#10 request signed by an RSA key of at least 2048 bits.',
    action: 'Restart the requesting agent so that it makes a new key and request.',
    http: 403,
  },
  EA_PKI_CSR_REJECTED: {
    meaning: 'The signing policy refused a request: a node may ask only for its own name and addresses (plus loopback), and never for a CA.',
    action: "Check the requesting agent's node name and advertised addresses.",
    http: 403,
  },
  EA_PKI_FILE_INVALID: {
    meaning: "A key or certificate file of this node is present but unusable (truncated, not PEM, or a certificate that is not for this node's key); the agent neither uses nor replaces it.",
    action: 'Restore the file named in the message from a backup. A node key is never made again over an existing file: the node id is derived from it.',
  },
  EA_PKI_MISSING: {
    meaning: 'This node enrolled earlier, but its certificates are missing or incomplete; it does not enroll again, since it may already be a member of the cluster.',
    action: "Restore the node's certificates (the directory named in the message) from a backup.",
  },
  EA_PKI_NAME_INVALID: {
    meaning: 'A name meant for a certificate (the node name) contains characters a certificate cannot carry.',
    action: 'Configure a node name of printable ASCII characters without spaces.',
    http: 403,
  },
  EA_PKI_SIGNING_OPTIONS: {
    meaning: 'Certificate signing was called with bad options (an unknown profile or a validity that is not positive); this is a bug in etcd-agent.',
    action: 'Report it, with the agent log.',
    http: 403,
  },

  // ---- day 2: renewal and client certificates -------------------------------
  EA_CERT_NO_CA: {
    meaning: 'No CA holder signed a certificate request (a renewal of this node\'s certificates, or `cert issue`); the message lists every agent asked and what each answered.',
    action: 'Read the answers: a renewal is retried by itself; if the CA holder is down, bring it back (or wait for another agent to take the CA role), and check `etcd-agent status` on the members.',
  },
  EA_CERT_NOT_MEMBER: {
    meaning: '`etcd-agent cert issue` found no cluster certificate of this node to ask the CA with (not a member, not enrolled yet, or not run as root).',
    action: 'Run it as root on a member of the cluster, with the `--config` (or `--root`) the agent runs with.',
  },
  EA_CERT_OUT_INVALID: {
    meaning: '`etcd-agent cert issue --out DIR` cannot write there: DIR is not a directory, or a file in it is not what the command writes.',
    action: 'Give a directory the command may create or write NAME.key, NAME.crt, ca.crt and NAME.env in.',
    exit: 2,
  },

  // ---- etcd -----------------------------------------------------------------
  EA_ETCD_CONF_INVALID: {
    meaning: 'A value meant for `etcd.conf` or `etcdctl.env` cannot be used: empty, with a newline, control or quote character, or an `etcd.extraEnv` key that is not an etcd setting or that etcd-agent manages itself.',
    action: 'Fix the named value in the agent config (`etcd.extraEnv`, `node.name`); values from the enrollment answer come from the CA holder.',
    exit: 2,
  },
  EA_ETCD_DATA_DIR_IN_USE: {
    meaning: "etcd's data directory already holds data that this agent did not create, so no new member is started over it.",
    action: 'Move that data away, or set `etcd.dataDir` to an empty directory; `check-config` and `run` refuse it (exit 2) before writing anything.',
    exit: 2,
  },
  EA_ETCD_DATA_DIR_WIPED: {
    meaning: "This node is a member of a formed cluster but its etcd data dir holds no etcd data (disk replaced, directory emptied); etcd is not started on it, since it would crash on the raft log it lost or found a second cluster.",
    action: 'Nothing, normally: the agent asks the cluster to remove its old member and re-add it as a learner under the same name (`etcd-agent status` shows the progress); if the data was moved away by mistake, stop the agent and put it back first.',
  },
  EA_ETCD_MEMBER_OP: {
    meaning: "etcd refused a membership change the agent asked for (add a learner, promote, remove); etcd's own words are in the message, for example \"too many learner members in cluster\" or \"can only promote a learner member which is in sync with leader\".",
    action: 'Nothing in most cases: the membership controller tries again on its next round; if it keeps failing, `etcd-agent status` (membership section, last operations) and `etcdctl member list` show what blocks it.',
  },
  EA_ETCD_RECORD_INVALID: {
    meaning: "A record the agents keep under `/etcd-agent/<cluster>/` in etcd (wanted size, nodes, joins, admitted joiners, operations log) is not in the form the agents write.",
    action: 'Delete or correct the key the message names with `etcdctl` (for the wanted size use `etcd-agent cluster resize N`); the agents ignore a bad record and write their own again.',
  },
  EA_ETCD_UNREACHABLE: {
    meaning: 'etcd did not answer at an endpoint in time.',
    action: 'Check that etcd is running there (`etcd-agent status`, the etcd log), that the address and port are right, and that the CA and client certificate belong to this cluster.',
  },

  // ---- snapshots and restore ------------------------------------------------
  EA_SNAPSHOT_INVALID: {
    meaning: 'A file is not a usable etcd snapshot: its SHA-256 integrity hash does not match, it has no hash (not made by the snapshot API), or its database structure is damaged.',
    action: 'Use another snapshot (`etcd-agent snapshot list` shows the verified ones), or take a new one with `etcd-agent snapshot save PATH`.',
  },
  EA_SNAPSHOT_FAILED: {
    meaning: 'Taking a snapshot failed (etcd did not answer, the disk is full, the written file did not verify); no partial file was left and no older snapshot was removed.',
    action: 'Read the reason in the message: free space in `snapshots.dir`, or check the local etcd (`etcd-agent status`); scheduled snapshots retry by themselves.',
  },
  EA_RESTORE_QUORUM: {
    meaning: '`etcd-agent restore` refused because the current cluster still has quorum: a restore would replace it with older data and a new cluster id.',
    action: 'Do not restore a working cluster; repair it instead. Only if its members are to be wiped anyway, run the restore again with `--force`.',
  },
  EA_RESTORE_REFUSED: {
    meaning: '`etcd-agent restore` cannot start: not root, the agent or etcd still runs on this host, this host was never a member, it lacks the CA key, or etcdctl is missing; nothing was changed.',
    action: 'Do what the message says (for example `systemctl stop etcd-agent etcd`), then run the restore again.',
  },
  EA_RESTORE_INTERRUPTED: {
    meaning: 'An `etcd-agent restore` on this host was interrupted (killed, power loss); the agent does not start on a half-restored node.',
    action: 'Run the same `etcd-agent restore --snapshot FILE` again: it starts over from the state it saved first (nothing is lost), then start the agent.',
    exit: 2,
  },
  EA_RESTORE_NOT_SETTLED: {
    meaning: "On the first start after `etcd-agent restore`, the old cluster's leases that came along in the snapshot (CA-role candidates, the membership lock, join queue places) could not be revoked yet, usually because the local etcd does not answer yet; the CA-role election and membership changes wait for it.",
    action: 'Nothing while it lasts seconds: the agent tries again. If it persists, check the local etcd (`etcd-agent status`, `journalctl -u etcd`).',
  },
  EA_RESTORE_FAILED: {
    meaning: 'A step of `etcd-agent restore` failed after it began; the message says which step, what was already done and where the old data dir is (never deleted).',
    action: 'Fix the cause named in the message and run the restore again; `docs/disaster-recovery.md` says how to go back to the old data dir.',
  },

  // ---- membership: joining a formed cluster, resizing ---------------------
  EA_JOIN_ANSWER_INVALID: {
    meaning: "A member's answer to this node's request to join cannot be used: it says admitted without the member list or without a CA holder, or its member list does not contain this node.",
    action: 'Nothing: the agent asks again; if it persists, check that every host runs the same etcd-agent version.',
  },
  EA_JOIN_NO_MEMBER: {
    meaning: "A node that found a formed cluster could not reach any of its members to ask to join (none authenticated yet, or every one failed to answer); the reason for each member is in the message.",
    action: "Check that the members' agents run, that their peer API port (2390) is reachable from this host, and that this node's seeds (or mDNS) reach them.",
  },
  EA_JOIN_WRONG_MEMBER: {
    meaning: "A joining node's etcd runs as another member, or in another cluster, than the one it was admitted as: its data dir holds someone else's data.",
    action: 'Stop the agent, move the etcd data dir named in the message aside (never delete it before you know what it holds), and start the agent again.',
  },
  EA_MEMBERSHIP_LOCKED: {
    meaning: 'Another member held the membership lock (`/etcd-agent/<cluster>/locks/membership`) for longer than the command waits: it is changing membership right now.',
    action: 'Run the command again in a few seconds; `etcd-agent status` shows who holds the lock and what it is doing.',
  },
  EA_RESIZE_REFUSED: {
    meaning: '`etcd-agent cluster resize N` was refused: N is below a majority (quorum) of the voters that are healthy now, or the cluster has no healthy quorum to record the change; nothing was changed.',
    action: 'Choose N of at least the quorum the message names (a resize can at most halve the healthy voters), or first bring the cluster back to health.',
  },

  // ---- writing files --------------------------------------------------------
  EA_DISK_FULL: {
    meaning: 'A file (a certificate, a key, etcd.conf, the agent\'s state) could not be written because the filesystem holding its directory is full (ENOSPC) or the disk quota is used up (EDQUOT); the message names the file and the directory, the old file was left as it was (files are replaced whole, by a rename) and the temp file was removed (the message says so if it could not be).',
    action: 'Free space on the filesystem holding the directory the message names (`df -h DIR`); the running agent retries the write by itself, a command (`init`, `cert issue`) must be run again.',
  },
  EA_FILE_NOT_WRITABLE: {
    meaning: 'A file could not be written because the filesystem holding its directory is mounted read-only (EROFS) or writing there was refused (EACCES, EPERM: not root, an immutable attribute, a security module); the old file was left as it was and the temp file was removed (the message says so if it could not be).',
    action: 'Remount the filesystem read-write, or run etcd-agent as root and check the owner, mode and attributes of the directory the message names (`ls -ld DIR`, `lsattr -d DIR`); the running agent retries by itself, a command must be run again.',
  },

  // ---- running etcd: systemd or a child process -----------------------------
  EA_SVC_ACCOUNT: {
    meaning: 'The system account that `etcd.service` runs as could not be created.',
    action: 'Create it by hand with the `groupadd` and `useradd` commands the message shows; the agent then uses it.',
  },
  EA_SVC_BINARY_MISSING: {
    meaning: 'The etcd binary is missing or cannot be run.',
    action: 'Install etcd (`apt-get install etcd-server` or `dnf install etcd`), or set `etcd.binary` to where it is.',
  },
  EA_SVC_ENVFILE_UNREADABLE: {
    meaning: 'The environment file that the agent writes for etcd before starting it cannot be read.',
    action: 'Check the path in the message and its permissions.',
  },
  EA_SVC_FOREIGN_ENV: {
    meaning: "The etcd unit would get environment from outside etcd-agent's configuration (a drop-in's `Environment=` or `EnvironmentFile=`), which could change etcd's data dir or cluster, so etcd is not started.",
    action: 'Remove those lines from the drop-ins the message names; the agent then continues by itself.',
  },
  EA_SVC_NOT_INSTALLED: {
    meaning: 'The etcd service was asked to run before it was installed; this is a bug in etcd-agent.',
    action: 'Report it, with the agent log.',
  },
  EA_SVC_SPEC_INVALID: {
    meaning: 'The etcd service description built from the configuration has an unusable field.',
    action: 'Fix the named value in the agent configuration.',
    exit: 2,
  },
  EA_SVC_STOP_FAILED: {
    meaning: 'etcd (or an etcd left from an earlier run) is still running after SIGKILL.',
    action: "Look at it with `ps -o pid,stat,cmd -p PID` and stop it by hand.",
  },
  EA_SVC_SYSTEMCTL: {
    meaning: "A systemctl command failed; systemd's own words are in the message.",
    action: 'See `systemctl status etcd` and `journalctl -u etcd` on this host.',
  },
  EA_SVC_SYSTEMD_UNAVAILABLE: {
    meaning: '`serviceManager` is systemd, but systemd is not running this host (`/run/systemd/system` is missing).',
    action: 'Set `serviceManager` to `process` (or `auto`) in the agent config.',
    exit: 2,
  },
  EA_SVC_UNIT_SHADOWED: {
    meaning: "systemd loads etcd's unit from another file than the one etcd-agent wrote (a unit in `/run/systemd/system` or a symlink wins over `/etc`).",
    action: "Remove the other unit and run `systemctl daemon-reload`.",
  },

  // ---- discovery: mDNS ------------------------------------------------------
  EA_MDNS_GROUP: {
    meaning: 'The mDNS socket could not join the multicast group 224.0.0.251, so it hears nothing.',
    action: 'Check that the interface supports multicast, or configure seeds.',
  },
  EA_MDNS_NO_CLUSTER_PEERS: {
    meaning: 'mDNS hears other hosts, but no etcd-agent of this cluster.',
    action: 'Check that every node runs and uses the same cluster name, or configure seeds.',
  },
  EA_MDNS_NO_INTERFACE: {
    meaning: 'mDNS is on, but no interface could be chosen for it or the interface has no IPv4 address.',
    action: 'Set `discovery.mdnsInterface` (`--mdns-interface`), or configure seeds.',
  },
  EA_MDNS_SEND: {
    meaning: 'Packets to the mDNS group cannot be sent: a firewall blocks multicast, or there is no route for 224.0.0.0/4.',
    action: 'Let multicast out or add the route (`ip route add 224.0.0.0/4 dev IFACE`), or configure seeds.',
  },
  EA_MDNS_SILENT: {
    meaning: 'No other host has answered on mDNS for a while: multicast may not reach this host.',
    action: 'Check that the network passes multicast between the hosts, or configure seeds.',
  },
  EA_MDNS_SOCKET: {
    meaning: 'The mDNS socket on UDP port 5353 could not be opened (another responder holds it exclusively, or no permission); the agent retries every 30 s.',
    action: 'Free UDP port 5353 (an mDNS responder without `SO_REUSEADDR`?), or configure seeds.',
  },
} as const satisfies Record<`EA_${string}`, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The codes the peer API answers with, i.e. whose entry sets an HTTP status. */
export type HttpErrorCode = {
  [C in ErrorCode]: (typeof ERROR_CATALOGUE)[C] extends { readonly http: number } ? C : never;
}[ErrorCode];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

export function errorEntry(code: ErrorCode): ErrorEntry {
  return ERROR_CATALOGUE[code];
}

/** True when the catalogue gives `code` an HTTP status: the peer API answers it with that status. */
export function hasHttpStatus(code: string): code is HttpErrorCode {
  return isErrorCode(code) && errorEntry(code).http !== undefined;
}

export function httpStatusOf(code: HttpErrorCode): number {
  return ERROR_CATALOGUE[code].http;
}

export function exitCodeOf(code: ErrorCode): number {
  return errorEntry(code).exit ?? DEFAULT_EXIT_CODE;
}
