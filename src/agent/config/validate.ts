import { hostname as osHostname, networkInterfaces as osNetworkInterfaces } from 'node:os';
import { isAbsolute, normalize } from 'node:path';
import { isIP } from 'node:net';
import { tokenProblem, trimToken } from '../../pki/token.js';
import {
  advertiseAddressProblem,
  formatHostPort,
  isLocalAddress,
  isLoopbackAddress,
  parseHostPort,
  pickAdvertiseAddress,
  type InterfaceMap,
} from './address.js';
import { DEFAULTS, FORBIDDEN_DATA_DIRS, withRoot } from './defaults.js';
import { applyEnvOverrides, isPlainObject } from './env.js';
import { readSmallRegularFile } from './read-file.js';
import type { ConfigProblem } from './errors.js';
import {
  CONFIG_FIELDS,
  FIELDS_BY_PATH,
  SECTIONS,
  TOP_LEVEL_SCALARS,
  envNameFor,
  keysOf,
  type FieldSpec,
  type LOG_LEVELS,
  type SERVICE_MANAGERS,
} from './schema.js';
import { closest } from './suggest.js';
import { day2Settings } from './day2-settings.js';
import { DURATION_HELP, formatDuration, parseDuration } from '../../util/duration.js';
import type { AgentConfig, SeedAddress } from './types.js';
import { ETCD_CONF_KEYS } from '../../etcd/conf.js';

/** What reading a token file found; injectable so tests need no files. Codes: errno codes, ENOTFILE (message: what it is instead), EFBIG. */
export type TokenFileRead = { ok: true; content: string; mode: number } | { ok: false; code: string; message: string };

export interface ValidateContext {
  /** Config file the raw config came from (for messages and AgentConfig.source). */
  source?: string;
  /** Overrides paths.root (the --root flag). */
  root?: string;
  /** Mode of the config file: an inline token in a file others can read is refused. */
  sourceMode?: number;
  /** Defaults to os.hostname(). */
  hostname?: string;
  /** Defaults to os.networkInterfaces(). */
  networkInterfaces?: InterfaceMap;
  /** Defaults to reading the file from disk. */
  readTokenFile?: (path: string) => TokenFileRead;
}

export interface ValidationResult {
  /** Present exactly when `problems` is empty. */
  config?: AgentConfig;
  problems: ConfigProblem[];
  /** Things that work but are probably not meant (an even cluster size, ...). */
  warnings: ConfigProblem[];
}

/** Settings etcd-agent writes into etcd.conf itself (one list, owned by the renderer); etcd.extraEnv must not override them. */
export const MANAGED_ETCD_ENV: ReadonlySet<string> = new Set(ETCD_CONF_KEYS);

/** A token is 43 characters; the file may hold a comment or line breaks, never kilobytes. */
export const MAX_TOKEN_FILE_BYTES = 4096;

export function readTokenFileFromDisk(path: string): TokenFileRead {
  const read = readSmallRegularFile(path, MAX_TOKEN_FILE_BYTES);
  if (read.ok) return read;
  // For ENOTFILE the message is what the path is instead ("a FIFO (named pipe)").
  return { ok: false, code: read.code, message: read.code === 'ENOTFILE' ? (read.kind ?? 'something else') : read.message };
}

/** A value shown in a message: strings quoted, long ones cut. Never used for the token. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  return String(v);
}

function mode(m: number): string {
  return `0${(m & 0o777).toString(8).padStart(3, '0')}`;
}

function kindDescription(f: FieldSpec): string {
  const k = f.kind;
  switch (k.type) {
    case 'int':
      return `an integer from ${k.min} to ${k.max}`;
    case 'duration':
      return `${DURATION_HELP}, from ${formatDuration(k.minMs)} to ${formatDuration(k.maxMs)}${k.zeroOff ? ', or 0 for off' : ''}`;
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${k.values.join(', ')}`;
    case 'list':
      return 'a list of strings, e.g. ["10.0.0.12", "etcd-3.example.internal:2390"]';
    case 'map':
      return 'a mapping of ETCD_* names to values';
    case 'path':
      return 'an absolute path';
    case 'string':
      return k.allowed ?? 'a string';
    case 'secret':
      return 'a string';
  }
}

/** Unknown-key message: a sibling key that is close, else the same key in another section, else anything close. */
function unknownKeyMessage(section: string | undefined, key: string): string {
  const full = section === undefined ? key : `${section}.${key}`;
  let guess: string | undefined;
  if (section !== undefined) {
    const sibling = closest(key, keysOf(section));
    if (sibling !== undefined) guess = `${section}.${sibling}`;
  } else {
    guess = closest(key, [...SECTIONS, ...TOP_LEVEL_SCALARS]);
  }
  if (guess === undefined) {
    const leaves = CONFIG_FIELDS.map((f) => f.path.split('.').pop() ?? f.path);
    const leaf = closest(key, leaves);
    if (leaf !== undefined) guess = CONFIG_FIELDS.find((f) => f.path.endsWith(`.${leaf}`) || f.path === leaf)?.path;
  }
  if (guess === undefined) guess = closest(full, CONFIG_FIELDS.map((f) => f.path));
  const allowed =
    section === undefined ? [...SECTIONS, ...TOP_LEVEL_SCALARS].join(', ') : keysOf(section).map((k) => `${section}.${k}`).join(', ');
  return `unknown key ${full}${guess === undefined ? '' : ` — did you mean ${guess}?`} (allowed here: ${allowed})`;
}

type LogLevel = (typeof LOG_LEVELS)[number];
type ServiceManager = (typeof SERVICE_MANAGERS)[number];

/**
 * The pure core of config loading: applies environment overrides to a parsed
 * YAML value, checks every key, fills in defaults and returns either the
 * resolved config or every problem found. Reads only the token file (through
 * `context.readTokenFile`) and, for defaults, the hostname and interfaces.
 */
export function validateRawConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, context: ValidateContext = {}): ValidationResult {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const secrets: string[] = [];
  const problem = (key: string, message: string): void => {
    problems.push({ key, message });
  };
  const warn = (key: string, message: string): void => {
    warnings.push({ key, message });
  };
  const finish = (config?: AgentConfig): ValidationResult => {
    const redact = (p: ConfigProblem): ConfigProblem => {
      let message = p.message;
      for (const s of secrets) if (s.length >= 4) message = message.split(s).join('[redacted]');
      return { key: p.key, message };
    };
    const result: ValidationResult = { problems: problems.map(redact), warnings: warnings.map(redact) };
    if (config !== undefined && problems.length === 0) result.config = config;
    return result;
  };

  const overridden = applyEnvOverrides(raw, env);
  warnings.push(...overridden.warnings);
  const origins = overridden.origins;
  const label = (path: string): string => {
    const from = origins.get(path);
    return from === undefined ? path : `${path} (from ${from})`;
  };
  const doc = overridden.raw;
  const sourceKey = context.source ?? '(config)';
  if (!isPlainObject(doc)) {
    problem(
      sourceKey,
      `${context.source === undefined ? 'the configuration' : `config file ${context.source}`} must be a YAML mapping with sections such as cluster: and node:, but it holds ${show(doc)}`,
    );
    return finish();
  }
  const envToken = env[envNameFor('cluster.token')];
  if (envToken !== undefined && trimToken(envToken) !== '') secrets.push(trimToken(envToken));

  // ---- structure and unknown keys
  const present = new Map<string, unknown>();
  for (const [top, value] of Object.entries(doc)) {
    if (SECTIONS.includes(top)) {
      if (value === null || value === undefined) continue;
      if (!isPlainObject(value)) {
        problem(top, `${top} must be a mapping with the keys ${keysOf(top).join(', ')}, but it is ${show(value)}`);
        continue;
      }
      for (const [key, v] of Object.entries(value)) {
        const path = `${top}.${key}`;
        if (!FIELDS_BY_PATH.has(path)) problem(path, unknownKeyMessage(top, key));
        else if (v !== null && v !== undefined) present.set(path, v);
      }
    } else if (TOP_LEVEL_SCALARS.includes(top)) {
      if (value !== null && value !== undefined) present.set(top, value);
    } else {
      problem(top, unknownKeyMessage(undefined, top));
    }
  }
  const tokenValue = present.get('cluster.token');
  if (typeof tokenValue === 'string' && trimToken(tokenValue) !== '') secrets.push(trimToken(tokenValue), tokenValue);

  // ---- types and per-key ranges
  const strings = new Map<string, string>();
  const ints = new Map<string, number>();
  const durations = new Map<string, number>();
  const bools = new Map<string, boolean>();
  const lists = new Map<string, string[]>();
  const maps = new Map<string, Record<string, unknown>>();
  for (const f of CONFIG_FIELDS) {
    if (!present.has(f.path)) continue;
    const v = present.get(f.path);
    const bad = (): void => problem(f.path, `${label(f.path)} is ${show(v)}; allowed: ${kindDescription(f)}`);
    const k = f.kind;
    switch (k.type) {
      case 'secret':
        if (typeof v !== 'string') problem(f.path, `${label(f.path)} must be a string (quote it in YAML)`);
        else if (trimToken(v) === '') problem(f.path, `${label(f.path)} is empty; set it to a token from \`etcd-agent token generate\``);
        else strings.set(f.path, trimToken(v));
        break;
      case 'string':
        if (typeof v !== 'string') problem(f.path, `${label(f.path)} is ${show(v)}, not a string; allowed: ${kindDescription(f)} (quote it in YAML)`);
        else if (v === '') problem(f.path, `${label(f.path)} is empty; allowed: ${kindDescription(f)}`);
        else if (k.pattern !== undefined && !k.pattern.test(v)) bad();
        else strings.set(f.path, v);
        break;
      case 'path':
        if (typeof v !== 'string' || v === '') bad();
        else if (!isAbsolute(v)) problem(f.path, `${label(f.path)} is ${show(v)}, a relative path; allowed: an absolute path (starting with /)`);
        else strings.set(f.path, normalize(v).replace(/(.)\/+$/, '$1'));
        break;
      case 'int':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < k.min || v > k.max) bad();
        else ints.set(f.path, v);
        break;
      case 'duration': {
        const ms = typeof v === 'string' ? parseDuration(v) : v === 0 ? 0 : undefined;
        if (ms === undefined || (ms === 0 ? !k.zeroOff : ms < k.minMs || ms > k.maxMs)) bad();
        else durations.set(f.path, ms);
        break;
      }
      case 'bool':
        if (typeof v !== 'boolean') bad();
        else bools.set(f.path, v);
        break;
      case 'enum':
        if (typeof v !== 'string' || !k.values.includes(v)) bad();
        else strings.set(f.path, v);
        break;
      case 'list':
        if (!Array.isArray(v)) problem(f.path, `${label(f.path)} is ${show(v)}; allowed: ${kindDescription(f)}`);
        else if (v.some((e) => typeof e !== 'string')) problem(f.path, `${label(f.path)} has an entry that is not a string; allowed: ${kindDescription(f)} (quote each entry)`);
        else lists.set(f.path, v as string[]);
        break;
      case 'map':
        if (!isPlainObject(v)) bad();
        else maps.set(f.path, v);
        break;
    }
  }

  // ---- cluster
  const clusterName = strings.get('cluster.name');
  if (!present.has('cluster.name')) problem('cluster.name', `cluster.name is missing; set it to the cluster's name (${kindDescription(FIELDS_BY_PATH.get('cluster.name') as FieldSpec)}), e.g. prod`);
  const size = ints.get('cluster.size');
  if (!present.has('cluster.size')) problem('cluster.size', 'cluster.size is missing; set it to the number of etcd members, an integer from 1 to 9 (3 or 5 are usual)');
  if (size !== undefined && size % 2 === 0) {
    warn('cluster.size', `cluster.size is ${size}, an even number: it tolerates no more failures than ${size - 1} members would; an odd size is recommended`);
  }

  let token: string | undefined;
  const tokenFile = strings.get('cluster.tokenFile');
  const hasToken = present.has('cluster.token');
  const hasTokenFile = present.has('cluster.tokenFile');
  if (hasToken && hasTokenFile) {
    problem('cluster.token', `${label('cluster.token')} and ${label('cluster.tokenFile')} are both set; set exactly one of them (cluster.tokenFile is preferred)`);
  } else if (!hasToken && !hasTokenFile) {
    problem('cluster.token', 'no join token: set cluster.tokenFile to a file (mode 0600) holding a token from `etcd-agent token generate`, or set cluster.token');
  } else if (hasToken) {
    const t = strings.get('cluster.token');
    if (t !== undefined) {
      const why = tokenProblem(t);
      if (why !== undefined) problem('cluster.token', `${label('cluster.token')}: ${why}`);
      else token = t;
      if (!origins.has('cluster.token') && context.sourceMode !== undefined && (context.sourceMode & 0o077) !== 0) {
        problem(
          'cluster.token',
          `cluster.token is written in ${context.source ?? 'the config file'}, which is readable by group or others (mode ${mode(context.sourceMode)}): run \`chmod 600 ${context.source ?? 'FILE'}\` or move the token to a file named by cluster.tokenFile`,
        );
      }
    }
  } else if (tokenFile !== undefined) {
    const read = (context.readTokenFile ?? readTokenFileFromDisk)(tokenFile);
    const l = label('cluster.tokenFile');
    if (!read.ok) {
      if (read.code === 'ENOENT') {
        problem('cluster.tokenFile', `${l}: ${tokenFile} does not exist; create it with \`etcd-agent token generate > ${tokenFile} && chmod 600 ${tokenFile}\``);
      } else if (read.code === 'EACCES') {
        problem('cluster.tokenFile', `${l}: ${tokenFile} cannot be read (permission denied); run etcd-agent as root or as the file's owner`);
      } else if (read.code === 'ENOTFILE') {
        problem('cluster.tokenFile', `${l}: ${tokenFile} is ${read.message}, not a regular file; point cluster.tokenFile at a file holding the token`);
      } else if (read.code === 'EFBIG') {
        problem('cluster.tokenFile', `${l}: ${tokenFile} is larger than ${MAX_TOKEN_FILE_BYTES} bytes, far more than a token; it was not read — check the path`);
      } else {
        problem('cluster.tokenFile', `${l}: ${tokenFile} cannot be read: ${read.message}`);
      }
    } else {
      const content = trimToken(read.content);
      if (content !== '') secrets.push(content);
      if ((read.mode & 0o077) !== 0) {
        problem('cluster.tokenFile', `${l}: ${tokenFile} is readable by group or others (mode ${mode(read.mode)}); run \`chmod 600 ${tokenFile}\``);
      } else if (content === '') {
        problem('cluster.tokenFile', `${l}: ${tokenFile} is empty; put a token from \`etcd-agent token generate\` in it`);
      } else {
        const why = tokenProblem(content);
        if (why !== undefined) problem('cluster.tokenFile', `${l}: the token in ${tokenFile} is not valid. ${why}`);
        else token = content;
      }
    }
  }

  // ---- paths
  let root: string = DEFAULTS.root;
  if (context.root !== undefined) {
    if (!isAbsolute(context.root)) problem('paths.root', `the root directory ${show(context.root)} is a relative path; give an absolute path`);
    else root = normalize(context.root).replace(/(.)\/+$/, '$1');
  } else {
    root = strings.get('paths.root') ?? root;
  }
  const pathOr = (path: string, fallback: string): string => strings.get(path) ?? withRoot(root, fallback);
  const paths = {
    root,
    stateDir: pathOr('paths.stateDir', DEFAULTS.stateDir),
    confFile: pathOr('paths.confFile', DEFAULTS.confFile),
    etcdctlEnvFile: pathOr('paths.etcdctlEnvFile', DEFAULTS.etcdctlEnvFile),
    pkiDir: pathOr('paths.pkiDir', DEFAULTS.pkiDir),
    unitFile: pathOr('paths.unitFile', DEFAULTS.unitFile),
  };

  // ---- node
  const interfaces = context.networkInterfaces ?? osNetworkInterfaces();
  let nodeName = strings.get('node.name');
  if (!present.has('node.name')) {
    const host = (context.hostname ?? osHostname()).toLowerCase();
    const spec = FIELDS_BY_PATH.get('node.name') as FieldSpec;
    if (spec.kind.type === 'string' && spec.kind.pattern !== undefined && spec.kind.pattern.test(host)) nodeName = host;
    else problem('node.name', `node.name is not set and the hostname ${show(host)} is not a valid etcd member name (allowed: ${kindDescription(spec)}); set node.name`);
  }

  const mdnsInterface = strings.get('discovery.mdnsInterface');
  let advertiseAddress: string | undefined;
  let advertiseAddressSource = 'config';
  if (present.has('node.advertiseAddress')) {
    const a = strings.get('node.advertiseAddress');
    if (a !== undefined) {
      const why = advertiseAddressProblem(a);
      if (why !== undefined) {
        problem(
          'node.advertiseAddress',
          `${label('node.advertiseAddress')} is ${show(a)}, which ${why}; allowed: an IPv4 or IPv6 address of this host that peers can reach (not a DNS name, 0.0.0.0, :: or a multicast address; no zone id, not link-local)`,
        );
      } else {
        advertiseAddress = a;
        if (!isLoopbackAddress(a) && !isLocalAddress(interfaces, a)) {
          warn('node.advertiseAddress', `node.advertiseAddress ${a} is not an address of any interface of this host right now; etcd will fail to listen on it until it is`);
        }
      }
    }
  } else if (!present.has('discovery.mdnsInterface') || mdnsInterface !== undefined) {
    const picked = pickAdvertiseAddress(interfaces, mdnsInterface);
    if (picked !== undefined) {
      advertiseAddress = picked.address;
      advertiseAddressSource = `auto (${picked.iface})`;
    } else if (mdnsInterface !== undefined && interfaces[mdnsInterface] === undefined) {
      problem(
        'discovery.mdnsInterface',
        `${label('discovery.mdnsInterface')} is ${show(mdnsInterface)}, but this host has no such interface (it has ${Object.keys(interfaces).join(', ') || 'none'}); fix the name or set node.advertiseAddress`,
      );
    } else {
      problem(
        'node.advertiseAddress',
        `node.advertiseAddress is not set and no non-internal IPv4 address was found on ${mdnsInterface === undefined ? 'any interface' : `interface ${mdnsInterface}`}; set node.advertiseAddress`,
      );
    }
  }

  // ---- peer API, status API, etcd ports
  const peerApiPort = ints.get('peerApi.port') ?? (present.has('peerApi.port') ? undefined : DEFAULTS.peerApiPort);
  const clientPort = ints.get('etcd.clientPort') ?? (present.has('etcd.clientPort') ? undefined : DEFAULTS.etcdClientPort);
  const etcdPeerPort = ints.get('etcd.peerPort') ?? (present.has('etcd.peerPort') ? undefined : DEFAULTS.etcdPeerPort);

  let statusHost: string = DEFAULTS.statusApiHost;
  let statusPort: number | undefined = DEFAULTS.statusApiPort;
  const statusText = strings.get('statusApi.address');
  if (present.has('statusApi.address')) {
    statusPort = undefined;
    if (statusText !== undefined) {
      const hp = parseHostPort(statusText, DEFAULTS.statusApiPort);
      const l = label('statusApi.address');
      if ('problem' in hp) {
        problem('statusApi.address', `${l} is ${show(statusText)}: it ${hp.problem}${hp.problem.includes('allowed') ? '' : '; allowed: HOST:PORT with a loopback HOST, e.g. 127.0.0.1:2391'}`);
      } else if (isIP(hp.host) === 0) {
        problem('statusApi.address', `${l} is ${show(statusText)}; the host must be a loopback IP address (127.0.0.0/8 or [::1]), not a name — write 127.0.0.1:${hp.port}`);
      } else if (!isLoopbackAddress(hp.host)) {
        problem(
          'statusApi.address',
          `${l} is ${show(statusText)}; allowed: a loopback address (127.0.0.0/8 or [::1]) with a port — the status API is never exposed beyond this host`,
        );
      } else {
        statusHost = hp.host;
        statusPort = hp.port;
      }
    }
  }

  const peerListen =
    advertiseAddress !== undefined && isLoopbackAddress(advertiseAddress) ? advertiseAddress : advertiseAddress !== undefined && isIP(advertiseAddress) === 6 ? '::' : '0.0.0.0';
  const sameAddress = ` on the same address; every listener of one node needs its own port`;
  if (clientPort !== undefined && etcdPeerPort !== undefined && clientPort === etcdPeerPort) {
    problem('etcd.peerPort', `${label('etcd.peerPort')} is ${etcdPeerPort}, the same as etcd.clientPort${sameAddress}`);
  }
  if (clientPort !== undefined && peerApiPort !== undefined && clientPort === peerApiPort) {
    problem('etcd.clientPort', `${label('etcd.clientPort')} is ${clientPort}, the same as peerApi.port${sameAddress}`);
  }
  if (etcdPeerPort !== undefined && peerApiPort !== undefined && etcdPeerPort === peerApiPort) {
    problem('etcd.peerPort', `${label('etcd.peerPort')} is ${etcdPeerPort}, the same as peerApi.port${sameAddress}`);
  }
  // The status API shares addresses with the others unless the node lives on its own loopback address.
  const statusShares = advertiseAddress === undefined || !isLoopbackAddress(advertiseAddress) || advertiseAddress === statusHost;
  if (statusPort !== undefined && statusShares) {
    for (const [other, port] of [
      ['peerApi.port', peerApiPort],
      ['etcd.clientPort', clientPort],
      ['etcd.peerPort', etcdPeerPort],
    ] as const) {
      if (port === statusPort) problem('statusApi.address', `${label('statusApi.address')} uses port ${statusPort}, the same as ${other}${sameAddress}`);
    }
  }

  // ---- discovery
  const mdns = bools.get('discovery.mdns') ?? DEFAULTS.mdns;
  const seeds: SeedAddress[] = [];
  const seedTexts = lists.get('discovery.seeds') ?? [];
  seedTexts.forEach((text, i) => {
    const hp = parseHostPort(text, peerApiPort ?? DEFAULTS.peerApiPort);
    if ('problem' in hp) {
      problem('discovery.seeds', `${label('discovery.seeds')} entry ${i + 1} ${show(text)} ${hp.problem}${hp.problem.includes('allowed') ? '' : '; allowed: host[:port], IPv6 as [addr]:port'}`);
    } else if (!seeds.some((s) => s.host === hp.host && s.port === hp.port)) {
      seeds.push(hp);
    }
  });
  if (present.has('discovery.mdns') && !mdns && seedTexts.length === 0 && size !== undefined && size > 1) {
    problem('discovery.seeds', `discovery.mdns is false and discovery.seeds is empty, so this node cannot find its ${size - 1} peers; list them in discovery.seeds or turn mdns on`);
  }

  // ---- etcd
  const binary = strings.get('etcd.binary') ?? DEFAULTS.etcdBinary;
  let dataDir = strings.get('etcd.dataDir');
  if (dataDir !== undefined) {
    if (FORBIDDEN_DATA_DIRS.includes(dataDir)) {
      problem(
        'etcd.dataDir',
        `${label('etcd.dataDir')} is ${dataDir}, which holds the data of the distribution's own single-node etcd (Debian's etcd-server package); a new cluster must never adopt it — use the default /var/lib/etcd/<cluster.name> or another empty directory`,
      );
    }
  } else if (clusterName !== undefined) {
    dataDir = withRoot(root, `${DEFAULTS.etcdDataParent}/${clusterName}`);
    if (FORBIDDEN_DATA_DIRS.includes(dataDir)) {
      problem(
        'cluster.name',
        `${label('cluster.name')} is ${show(clusterName)}, which would put etcd's data in ${dataDir}, the data directory of Debian's own single-node etcd; choose another cluster name or set etcd.dataDir`,
      );
    }
  }

  const extraEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(maps.get('etcd.extraEnv') ?? {})) {
    if (!/^ETCD_[A-Z0-9_]+$/.test(k)) {
      problem('etcd.extraEnv', `etcd.extraEnv has the key ${show(k)}; allowed: names matching ^ETCD_[A-Z0-9_]+$ such as ETCD_QUOTA_BACKEND_BYTES`);
    } else if (MANAGED_ETCD_ENV.has(k)) {
      problem('etcd.extraEnv', `etcd.extraEnv sets ${k}, which etcd-agent manages itself; remove it (see the agent's config keys for what can be changed)`);
    } else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      problem('etcd.extraEnv', `etcd.extraEnv.${k} is ${show(v)}; allowed: a string, number or boolean`);
    } else if (/[\r\n\0]/.test(String(v))) {
      problem('etcd.extraEnv', `etcd.extraEnv.${k} contains a line break; allowed: a single-line value`);
    } else {
      extraEnv[k] = String(v);
    }
  }

  // ---- day 2: pki, membership, snapshots (day2-settings.ts)
  const day2 = day2Settings({ ints, durations, strings, present, problem, label, root });

  const serviceManager = (strings.get('serviceManager') ?? DEFAULTS.serviceManager) as ServiceManager;
  const level = (strings.get('log.level') ?? DEFAULTS.logLevel) as LogLevel;

  if (
    problems.length > 0 ||
    clusterName === undefined ||
    size === undefined ||
    token === undefined ||
    nodeName === undefined ||
    advertiseAddress === undefined ||
    peerApiPort === undefined ||
    statusPort === undefined ||
    clientPort === undefined ||
    etcdPeerPort === undefined ||
    dataDir === undefined
  ) {
    if (problems.length === 0) problem(sourceKey, 'the configuration is incomplete (internal error: a value was refused without a reason)');
    return finish();
  }

  const config: AgentConfig = {
    cluster: { name: clusterName, size, token },
    node: { name: nodeName, advertiseAddress, advertiseAddressSource },
    discovery: { mdns, seeds },
    peerApi: { listenAddress: peerListen, port: peerApiPort },
    statusApi: { host: statusHost, port: statusPort },
    etcd: { binary, clientPort, peerPort: etcdPeerPort, dataDir, extraEnv },
    paths,
    ...day2,
    serviceManager,
    log: { level },
  };
  if (context.source !== undefined) config.source = context.source;
  if (tokenFile !== undefined) config.cluster.tokenFile = tokenFile;
  if (mdnsInterface !== undefined) config.discovery.mdnsInterface = mdnsInterface;
  return finish(config);
}

/** `host:port` of each seed, for summaries. */
export function formatSeeds(seeds: readonly SeedAddress[]): string[] {
  return seeds.map((s) => formatHostPort(s.host, s.port));
}
