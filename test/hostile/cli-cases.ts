/**
 * Hostile command lines. `{root}` in an argument is replaced by a fresh
 * directory the row may write into (nothing must appear there); `{token}` by
 * a valid token. Every row must exit 2 with a message containing `says`.
 */
export interface CliCase {
  name: string;
  args: string[];
  says: string[];
}

const INIT = ['init', '--cluster', 'demo', '--size', '3', '--token', '{token}', '--root', '{root}', '--advertise-address', '127.0.0.11', '--name', 'n1', '--seeds', '127.0.0.12'];
/** INIT with one option replaced (or added). */
const initWith = (flag: string, value?: string): string[] => {
  const i = INIT.indexOf(flag);
  const args = [...INIT];
  if (i >= 0) {
    if (value === undefined) args.splice(i, 2);
    else args[i + 1] = value;
  } else args.push(flag, ...(value === undefined ? [] : [value]));
  return args;
};

export const CLI_CASES: readonly CliCase[] = [
  { name: 'no command', args: [], says: ['usage'] },
  { name: 'unknown command', args: ['bootstrap'], says: ['"bootstrap"'] },
  { name: 'option before the command', args: ['--config', '/x', 'run'], says: ['--config'] },
  { name: 'help for an unknown command', args: ['help', 'frobnicate'], says: ['"frobnicate"'] },
  { name: 'version with an extra argument', args: ['--version', 'now'], says: ['"now"'] },
  { name: 'init without --cluster', args: initWith('--cluster'), says: ['--cluster'] },
  { name: 'init without --size', args: initWith('--size'), says: ['--size'] },
  { name: 'init without a token', args: initWith('--token'), says: ['--token'] },
  { name: 'init --size 0', args: initWith('--size', '0'), says: ['size'] },
  { name: 'init --size eleven', args: initWith('--size', 'eleven'), says: ['size'] },
  { name: 'init --size 3.5', args: initWith('--size', '3.5'), says: ['size'] },
  { name: 'init --cluster with upper case', args: initWith('--cluster', 'Demo'), says: ['cluster'] },
  { name: 'init --cluster with a slash', args: initWith('--cluster', 'a/b'), says: ['cluster'] },
  { name: 'init --cluster empty', args: initWith('--cluster', ''), says: ['cluster'] },
  { name: 'init weak --token', args: initWith('--token', 'hunter2'), says: ['token'] },
  { name: 'init --token and --token-file', args: initWith('--token-file', '/etc/passwd'), says: ['--token-file'] },
  { name: 'init --token-file missing', args: [...initWith('--token'), '--token-file', '/nonexistent/token'], says: ['/nonexistent/token'] },
  { name: 'init --advertise-address a name', args: initWith('--advertise-address', 'node1'), says: ['advertise'] },
  { name: 'init --advertise-address multicast', args: initWith('--advertise-address', '239.1.1.1'), says: ['advertise'] },
  { name: 'init --name with a space', args: initWith('--name', 'a b'), says: ['name'] },
  { name: 'init --seeds with a bad port', args: initWith('--seeds', '127.0.0.12:port'), says: ['seeds'] },
  { name: 'init --peer-port 0', args: initWith('--peer-port', '0'), says: ['peer'] },
  { name: 'init --peer-port text', args: initWith('--peer-port', 'abc'), says: ['peer'] },
  { name: 'init --status-address public', args: initWith('--status-address', '0.0.0.0:2391'), says: ['status'] },
  { name: 'init --client-port = --etcd-peer-port', args: [...initWith('--client-port', '2380')], says: ['2380'] },
  { name: 'init --service-manager unknown', args: initWith('--service-manager', 'upstart'), says: ['upstart'] },
  { name: 'init --log-level unknown', args: initWith('--log-level', 'shout'), says: ['shout'] },
  { name: 'init unknown option', args: initWith('--colour', 'red'), says: ['--colour'] },
  { name: 'init --mdns with a value', args: initWith('--mdns=yes'), says: ['--mdns'] },
  { name: 'init --root on a file', args: initWith('--root', '/etc/hostname'), says: ['/etc/hostname'] },
  { name: 'init --data-dir of Debian', args: initWith('--data-dir', '/var/lib/etcd/default'), says: ['/var/lib/etcd/default'] },
  { name: 'init positional argument', args: [...INIT, 'extra'], says: ['"extra"'] },
  { name: 'check-config missing file', args: ['check-config', '--config', '{root}/nope.yaml'], says: ['nope.yaml'] },
  { name: 'check-config on a directory', args: ['check-config', '--config', '{root}'], says: ['directory'] },
  { name: 'check-config unknown option', args: ['check-config', '--strict'], says: ['--strict'] },
  { name: 'run with a missing config', args: ['run', '--config', '{root}/nope.yaml'], says: ['nope.yaml'] },
  { name: 'run unknown option', args: ['run', '--daemon'], says: ['--daemon'] },
  // Regression: this used to send the status request to 8.8.8.8 (found by this catalogue).
  { name: 'status with a public address', args: ['status', '--address', '8.8.8.8:2391'], says: ['8.8.8.8', 'loopback'] },
  { name: 'status with a host name', args: ['status', '--address', 'example.com:2391'], says: ['example.com', 'loopback'] },
  { name: 'status with a bad port', args: ['status', '--address', '127.0.0.1:http'], says: ['127.0.0.1:http'] },
  { name: 'status unknown option', args: ['status', '--yaml'], says: ['--yaml'] },
  { name: 'token without a subcommand', args: ['token'], says: ['token'] },
  { name: 'token unknown subcommand', args: ['token', 'show'], says: ['show'] },
  { name: 'token generate with an argument', args: ['token', 'generate', '32'], says: ['32'] },
];
