import { closeEtcdClients } from '../etcd/client.js';
import { defaultIo, reportError, usageError, wantsHelp, type CliIo } from './commands/args.js';
import { CERT_USAGE, certCommand } from './commands/cert.js';
import { checkConfigCommand } from './commands/check-config.js';
import { CLUSTER_USAGE, clusterCommand } from './commands/cluster.js';
import { initCommand } from './commands/init.js';
import { RESTORE_USAGE, restoreCommand } from './commands/restore.js';
import { runCommand } from './commands/run.js';
import { SNAPSHOT_USAGE, snapshotCommand } from './commands/snapshot.js';
import { statusCommand } from './commands/status.js';
import { tokenCommand } from './commands/token.js';
import { packageVersion, versionCommand } from './commands/version.js';

/**
 * The etcd-agent command line. `main` returns the exit code (0 ok, 1 runtime
 * failure, 2 bad usage or configuration) and never calls process.exit.
 */

const COMMAND_HELP: Readonly<Record<string, string>> = {
  init: `usage: etcd-agent init --cluster NAME --size N (--token TOKEN | --token-file FILE) [options]

Writes a validated config file (mode 0600). Nothing is written when any value
is invalid; an existing config with different content is kept unless --force.

required:
  --cluster NAME               cluster name: a-z, 0-9 and "-", at most 63 characters
  --size N                     number of etcd members, 1 to 9 (odd recommended)
  --token TOKEN                join token (from \`etcd-agent token generate\`); it is
                               written to a 0600 file "token" beside the config,
                               not into the config itself
  --token-file FILE            or: a file (mode 0600) that holds the token

options:
  --config PATH                where to write (default <root>/etc/etcd-agent/config.yaml,
                               or $ETCD_AGENT_CONFIG)
  --root DIR                   prefix every default path with DIR (several nodes on one
                               machine, tests); recorded as paths.root
  --name NAME                  etcd member name (default: the hostname, lowercased)
  --advertise-address IP       address peers reach this node at (default: first
                               non-internal IPv4 address)
  --seeds HOST[:PORT],...      peers to contact; IPv6 as [ADDR]:PORT (default port 2390)
  --mdns | --no-mdns           find peers by mDNS (default on)
  --mdns-interface IF          interface for mDNS and address auto-detection
  --peer-port N                agent peer API port (default 2390)
  --status-address HOST:PORT   local status API, loopback only (default 127.0.0.1:2391)
  --client-port N              etcd client port (default 2379)
  --etcd-peer-port N           etcd peer port (default 2380)
  --etcd-binary PATH           etcd executable (default /usr/bin/etcd)
  --data-dir DIR               etcd data directory (default <root>/var/lib/etcd/<cluster>)
  --service-manager KIND       auto, systemd or process (default auto)
  --log-level LEVEL            fatal, error, warn, info, debug or trace (default info)
  --force                      overwrite an existing config (and token file)
`,
  'check-config': `usage: etcd-agent check-config [--config PATH] [--root DIR]

Loads the config as \`run\` would (file, then ETCD_AGENT_* environment
overrides, then defaults) and prints a summary; exits 2 listing every problem,
including an etcd data dir that holds data this node did not create.

  --config PATH   config file (default /etc/etcd-agent/config.yaml,
                  or $ETCD_AGENT_CONFIG)
  --root DIR      the node lives under DIR (as with \`etcd-agent init --root\`):
                  the default config is DIR/etc/etcd-agent/config.yaml, and DIR
                  overrides paths.root
`,
  cluster: CLUSTER_USAGE,
  token: `usage: etcd-agent token generate

Prints a new join token (256 random bits). Give the same token to every node.
`,
  snapshot: SNAPSHOT_USAGE,
  restore: RESTORE_USAGE,
  cert: CERT_USAGE,
  version: `usage: etcd-agent version | etcd-agent --version

Prints the agent's version.
`,
};

const USAGE = `usage: etcd-agent <command> [options]

commands:
  run            [--config PATH] [--root DIR]     run the agent daemon
  init           --cluster NAME --size N --token TOKEN|--token-file FILE [...]
                                                  write a validated config file
  check-config   [--config PATH] [--root DIR]     validate the config (exit 0 or 2)
  status         [--json] [--address HOST:PORT] [--config PATH]
                                                  show what the local agent is doing
  cluster resize N [--config PATH] [--root DIR]   set the wanted number of voting members
                                                  (on a member; uses its admin certificate)
  cert issue     --name NAME --out DIR [--validity D]
                                                  client certificate for a consumer (on a member, as root)
  token generate                                  print a new join token
  snapshot       save PATH | list [--verify]      snapshot this node's etcd; list snapshots
  restore        --snapshot FILE [--force]        disaster recovery: a new cluster from a snapshot
  version                                         print the version
  help [COMMAND]                                  this text, or a command's options

\`etcd-agent COMMAND --help\` lists every option of a command.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.
Environment: ETCD_AGENT_CONFIG names the config file; ETCD_AGENT_<SECTION>_<KEY>
(e.g. ETCD_AGENT_CLUSTER_SIZE, ETCD_AGENT_DISCOVERY_SEEDS) overrides a config key.
`;

type Handler = (args: string[], io: CliIo) => Promise<number>;

/** Commands that answer --help themselves (owned by the daemon and status code). */
const SELF_HELP: ReadonlySet<string> = new Set(['run', 'status']);

const COMMANDS: Readonly<Record<string, Handler>> = {
  run: runCommand,
  status: statusCommand,
  init: initCommand,
  'check-config': checkConfigCommand,
  cluster: clusterCommand,
  cert: certCommand,
  token: tokenCommand,
  snapshot: snapshotCommand,
  restore: restoreCommand,
  version: versionCommand,
};

export function usageText(command?: string): string {
  return command === undefined ? USAGE : (COMMAND_HELP[command] ?? USAGE);
}

export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const cli: CliIo = { ...defaultIo(), ...io };
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      cli.stderr.write(USAGE);
      return 2;
    }
    if (first === '--help' || first === '-h') {
      cli.stdout.write(USAGE);
      return 0;
    }
    if (first === 'help') {
      const topic = rest[0];
      if (topic === undefined) {
        cli.stdout.write(USAGE);
        return 0;
      }
      const topicHandler = COMMANDS[topic];
      if (topicHandler === undefined) throw usageError(`no help for unknown command "${topic}"; see \`etcd-agent --help\``);
      if (SELF_HELP.has(topic)) return await topicHandler(['--help'], cli);
      cli.stdout.write(usageText(topic));
      return 0;
    }
    if (first === '--version' || first === '-V') {
      if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])} after --version; see \`etcd-agent --help\``);
      cli.stdout.write(`etcd-agent ${packageVersion()}\n`);
      return 0;
    }
    const handler = COMMANDS[first];
    if (handler === undefined) {
      if (first.startsWith('-')) throw usageError(`unknown option ${first}; give a command first; see \`etcd-agent --help\``);
      throw usageError(`unknown command "${first}"; see \`etcd-agent --help\``);
    }
    if (!SELF_HELP.has(first) && wantsHelp(rest)) {
      cli.stdout.write(usageText(first));
      return 0;
    }
    return await handler(rest, cli);
  } catch (err) {
    return reportError(cli, err);
  } finally {
    // A command's shared etcd clients (etcd/client.ts) must not outlive it.
    closeEtcdClients();
  }
}
