import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { readSmallRegularFile } from '../config/read-file.js';
import { AgentError } from '../../util/errors.js';
import { trimToken } from '../../pki/token.js';
import {
  CONFIG_INVALID,
  DEFAULT_CONFIG_PATH,
  MAX_CONFIG_BYTES,
  MAX_TOKEN_FILE_BYTES,
  TOKEN_FILE_NAME,
  renderConfigYaml,
  resolveConfigPath,
  setsNoKeys,
  validateRawConfig,
  type RawConfig,
  type RawValue,
} from '../config/index.js';
import { parseCommandArgs, usageError, type CliIo, type OptionSpec } from './args.js';

export const INIT_OPTIONS = {
  cluster: { type: 'string' },
  size: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  seeds: { type: 'string' },
  mdns: { type: 'boolean' },
  'no-mdns': { type: 'boolean' },
  'mdns-interface': { type: 'string' },
  config: { type: 'string' },
  name: { type: 'string' },
  'advertise-address': { type: 'string' },
  root: { type: 'string' },
  'status-address': { type: 'string' },
  'peer-port': { type: 'string' },
  'client-port': { type: 'string' },
  'etcd-peer-port': { type: 'string' },
  'etcd-binary': { type: 'string' },
  'data-dir': { type: 'string' },
  'service-manager': { type: 'string' },
  'log-level': { type: 'string' },
  force: { type: 'boolean' },
} as const satisfies OptionSpec;

/** Which flag sets which key, so problems can name the flag to fix. */
const FLAG_FOR_KEY: Readonly<Record<string, string>> = {
  'cluster.name': '--cluster',
  'cluster.size': '--size',
  'cluster.token': '--token or --token-file',
  'cluster.tokenFile': '--token-file',
  'node.name': '--name',
  'node.advertiseAddress': '--advertise-address',
  'discovery.mdns': '--mdns/--no-mdns',
  'discovery.mdnsInterface': '--mdns-interface',
  'discovery.seeds': '--seeds',
  'peerApi.port': '--peer-port',
  'statusApi.address': '--status-address',
  'etcd.binary': '--etcd-binary',
  'etcd.clientPort': '--client-port',
  'etcd.peerPort': '--etcd-peer-port',
  'etcd.dataDir': '--data-dir',
  'paths.root': '--root',
  serviceManager: '--service-manager',
  'log.level': '--log-level',
};

/** A decimal integer flag becomes a number; anything else stays a string for the validator to refuse by name. */
function intFlag(text: string): number | string {
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text;
}

function put(raw: RawConfig, path: string, value: RawValue | undefined): void {
  if (value === undefined) return;
  const [section, key] = path.split('.') as [string, string | undefined];
  if (key === undefined) {
    raw[section] = value;
    return;
  }
  const existing = raw[section];
  const target: Record<string, RawValue> =
    typeof existing === 'object' && existing !== null && !Array.isArray(existing) ? (existing as Record<string, RawValue>) : {};
  target[key] = value;
  raw[section] = target;
}

const HEADER = [
  'etcd-agent configuration, written by `etcd-agent init`.',
  'Check it with `etcd-agent check-config`; keys left out take their defaults.',
  'ETCD_AGENT_<SECTION>_<KEY> environment variables override these values.',
].join('\n');

/**
 * `etcd-agent init`: builds the raw config from flags, validates it with the
 * same validator `run` uses, and writes it atomically (0600). A --token is
 * written to a 0600 file beside the config, never into the config itself.
 */
export async function initCommand(args: string[], io: CliIo): Promise<number> {
  const { values: v } = parseCommandArgs('init', args, INIT_OPTIONS);
  if (v.mdns === true && v['no-mdns'] === true) throw usageError('--mdns and --no-mdns contradict each other; give one of them; see `etcd-agent init --help`');

  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(io.cwd, p));
  const root = abs(v.root);
  const configPath = resolveConfigPath({ path: abs(v.config), env: io.env, root });
  const tokenPath = join(dirname(configPath), TOKEN_FILE_NAME);

  const raw: RawConfig = {};
  put(raw, 'cluster.name', v.cluster);
  put(raw, 'cluster.size', v.size === undefined ? undefined : intFlag(v.size));
  put(raw, 'cluster.tokenFile', abs(v['token-file']));
  put(raw, 'node.name', v.name);
  put(raw, 'node.advertiseAddress', v['advertise-address']);
  put(raw, 'discovery.mdns', v.mdns === true ? true : v['no-mdns'] === true ? false : undefined);
  put(raw, 'discovery.mdnsInterface', v['mdns-interface']);
  put(
    raw,
    'discovery.seeds',
    v.seeds
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
  put(raw, 'peerApi.port', v['peer-port'] === undefined ? undefined : intFlag(v['peer-port']));
  put(raw, 'statusApi.address', v['status-address']);
  put(raw, 'etcd.binary', abs(v['etcd-binary']));
  put(raw, 'etcd.clientPort', v['client-port'] === undefined ? undefined : intFlag(v['client-port']));
  put(raw, 'etcd.peerPort', v['etcd-peer-port'] === undefined ? undefined : intFlag(v['etcd-peer-port']));
  put(raw, 'etcd.dataDir', abs(v['data-dir']));
  put(raw, 'paths.root', root);
  put(raw, 'serviceManager', v['service-manager']);
  put(raw, 'log.level', v['log-level']);

  // Validate what the written files will mean: with --token the token is inline here and in a file on disk later.
  const forValidation: RawConfig = structuredClone(raw);
  put(forValidation, 'cluster.token', v.token);
  const result = validateRawConfig(forValidation, {}, { source: configPath });
  if (result.config === undefined) {
    const lines = result.problems.map((p) => {
      const flag = FLAG_FOR_KEY[p.key];
      return `  - ${p.message}${flag === undefined ? '' : ` [flag ${flag}]`}`;
    });
    throw new AgentError(
      CONFIG_INVALID,
      [`init: the configuration from these flags is invalid, nothing was written (see \`etcd-agent init --help\`):`, ...lines].join('\n'),
    );
  }
  for (const w of result.warnings) io.stderr.write(`etcd-agent: warning: ${w.message}\n`);

  if (v.token !== undefined) put(raw, 'cluster.tokenFile', tokenPath);
  const configText = renderConfigYaml(raw, HEADER);
  const tokenText = v.token === undefined ? undefined : `${trimToken(v.token)}\n`;

  // Refuse before writing anything, so a refusal leaves every file as it was.
  const existingConfig = readExisting(configPath, MAX_CONFIG_BYTES, 'config file');
  const existingToken = tokenText === undefined ? undefined : readExisting(tokenPath, MAX_TOKEN_FILE_BYTES, 'token file');
  if (v.force !== true) {
    // A config that sets no key (the commented-out one the packages install) holds nothing to lose.
    if (existingConfig !== undefined && existingConfig !== configText && !setsNoKeys(existingConfig)) {
      throw usageError(`config file ${configPath} already exists with different content; nothing was written. Pass --force to overwrite it, or check it with \`etcd-agent check-config --config ${configPath}\``);
    }
    if (existingToken !== undefined && existingToken !== tokenText) {
      throw usageError(`token file ${tokenPath} already exists with a different token; nothing was written. Pass --force to overwrite it (every node must share one token)`);
    }
  }

  if (tokenText !== undefined) {
    const changed = await writeFileAtomic(tokenPath, tokenText, { mode: 0o600 });
    io.stdout.write(`${changed ? 'wrote' : 'unchanged'} ${tokenPath} (the join token, mode 0600)\n`);
  }
  const changed = await writeFileAtomic(configPath, configText, { mode: 0o600 });
  const c = result.config;
  io.stdout.write(
    `${changed ? 'wrote' : 'unchanged'} ${configPath} (cluster ${c.cluster.name}, size ${c.cluster.size}, node ${c.node.name}, advertise address ${c.node.advertiseAddress} from ${c.node.advertiseAddressSource})\n`,
  );
  const next =
    configPath === DEFAULT_CONFIG_PATH
      ? 'systemctl enable --now etcd-agent   (without systemd: etcd-agent run)'
      : `etcd-agent run --config ${configPath}`;
  io.stdout.write(`next: ${next}\n`);
  return 0;
}

/**
 * What is already at a path init would write: undefined when nothing is; a
 * usage error when it is not a small regular file (a FIFO would hang init, a
 * directory or device can never be replaced by a config), so nothing is written.
 */
function readExisting(path: string, maxBytes: number, what: string): string | undefined {
  const read = readSmallRegularFile(path, maxBytes);
  if (read.ok) return read.content;
  if (read.code === 'ENOENT') return undefined;
  throw usageError(`${what} ${path} cannot be replaced: ${read.message}; nothing was written. Move it away, or give another path`);
}
