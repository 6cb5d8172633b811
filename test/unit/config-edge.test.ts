import t, { type Test } from 'tap';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateToken } from '../../src/pki/token.js';
import {
  ConfigError,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_DEPTH,
  MAX_TOKEN_FILE_BYTES,
  NOT_CONFIGURED,
  advertiseAddressProblem,
  loadConfig,
  parseConfigText,
  type InterfaceMap,
  type ValidateContext,
} from '../../src/agent/config/index.js';
import { canonicalIp } from '../../src/pki/ip.js';
import { BILLION_LAUGHS } from '../helpers/hostile-inputs.js';

/**
 * Config files an operator or an attacker can hand the loader, beyond wrong
 * values: deep nesting, alias bombs, files that are not files, huge files,
 * empty files given on purpose, addresses a certificate cannot carry. Each is
 * refused as a ConfigError (exit code 2) naming the file or the key, and the
 * loader writes nothing. (A FIFO is tested with the CLI as a process: on the
 * old code it blocked the whole process, a test of it in-process would hang.)
 */

const TOKEN = generateToken();

function iface(address: string): NetworkInterfaceInfo {
  return { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: `${address}/24` };
}
const INTERFACES: InterfaceMap = { eth0: [iface('10.0.0.11')] };
const HOOKS: Pick<ValidateContext, 'hostname' | 'networkInterfaces'> = { hostname: 'host1', networkInterfaces: INTERFACES };

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ea-edge-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A valid config in `dir` whose token lives in dir/token; `edit` changes the document or replaces the text. */
async function writeNode(dir: string, edit: (doc: Record<string, Record<string, unknown>>) => string | void = () => undefined): Promise<string> {
  const tokenPath = join(dir, 'token');
  await writeFile(tokenPath, `${TOKEN}\n`, { mode: 0o600 });
  const doc: Record<string, Record<string, unknown>> = {
    cluster: { name: 'prod', size: 3, tokenFile: tokenPath },
    node: { name: 'host1', advertiseAddress: '10.0.0.11' },
    paths: { root: dir },
  };
  const text = edit(doc) ?? stringify(doc);
  const file = join(dir, 'config.yaml');
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

async function expectInvalid(t: Test, file: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  const err = await loadConfig({ path: file, env, context: HOOKS }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ConfigError, `refused as a ConfigError: ${String(err)}`);
  return err as ConfigError;
}

function listening(t: Test, path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(path, () => resolve(server));
    t.teardown(() => new Promise<void>((done) => server.close(() => done())));
  });
}


/** Lines nesting block mappings by indentation only (no flow, no "-"): only the parsed-token walk sees this depth. */
function indentedMaps(levels: number): string {
  return `${Array.from({ length: levels }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n')} 1\n`;
}

interface Row {
  name: string;
  /** Prepares the case in dir; returns the config path. */
  make: (t: Test, dir: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
  /** The key reported: the config file itself, or a dotted key. */
  key: 'file' | string;
  says: string[];
}

const ROWS: Row[] = [
  { name: '1000 nested "[" (a 1 KB file)', make: (_t, d) => writeNode(d, () => '['.repeat(1000)), key: 'file', says: ['nests collections more than', 'levels deep'] },
  { name: '1000 nested "[" inside a value', make: (_t, d) => writeNode(d, () => `cluster:\n  name: ${'['.repeat(1000)}\n`), key: 'file', says: ['levels deep'] },
  { name: '1000 nested "{"', make: (_t, d) => writeNode(d, () => '{a: '.repeat(1000)), key: 'file', says: ['levels deep'] },
  { name: 'compact block sequences "- - - ..."', make: (_t, d) => writeNode(d, () => `${'- '.repeat(1000)}x\n`), key: 'file', says: ['levels deep'] },
  { name: `${MAX_CONFIG_DEPTH + 4} levels of indented mappings`, make: (_t, d) => writeNode(d, () => indentedMaps(MAX_CONFIG_DEPTH + 4)), key: 'file', says: ['levels deep'] },
  { name: 'far more YAML tokens than a config has (parsing took seconds and hundreds of MB)', make: (_t, d) => writeNode(d, () => 'k: ]\n'.repeat(200_000)), key: 'file', says: ['more than 20000 YAML tokens'] },
  { name: 'YAML alias bomb', make: (_t, d) => writeNode(d, () => BILLION_LAUGHS), key: 'file', says: ['aliases', 'limited to 50'] },
  {
    name: `config larger than ${MAX_CONFIG_BYTES} bytes`,
    make: (_t, d) => writeNode(d, (doc) => `${stringify(doc)}${`# ${'x'.repeat(1022)}\n`.repeat(1025)}`),
    key: 'file',
    says: ['larger than 1048576 bytes'],
  },
  {
    name: 'config is a directory',
    make: async (_t, d) => {
      await mkdir(join(d, 'conf.d'));
      return join(d, 'conf.d');
    },
    key: 'file',
    says: ['is a directory'],
  },
  {
    name: 'config is a socket',
    make: async (t, d) => {
      await listening(t, join(d, 'sock'));
      return join(d, 'sock');
    },
    key: 'file',
    says: ['is a socket, not a regular file'],
  },
  { name: 'config given with --config is empty', make: (_t, d) => writeNode(d, () => ''), key: 'file', says: ['sets no keys'] },
  { name: 'config given with --config has only comments', make: (_t, d) => writeNode(d, () => '# cluster:\n#   name: prod\n'), key: 'file', says: ['sets no keys'] },
  {
    name: 'token file larger than 4 KiB',
    make: async (_t, d) => {
      const file = await writeNode(d);
      await writeFile(join(d, 'token'), `${TOKEN}\n${'#'.repeat(MAX_TOKEN_FILE_BYTES)}\n`, { mode: 0o600 });
      return file;
    },
    key: 'cluster.tokenFile',
    says: ['larger than 4096 bytes'],
  },
  {
    name: 'token file is a directory',
    make: async (_t, d) => writeNode(d, (doc) => void (doc.cluster = { ...doc.cluster, tokenFile: d })),
    key: 'cluster.tokenFile',
    says: ['is a directory, not a regular file'],
  },
  {
    name: 'token file is a socket',
    make: async (t, d) => {
      await listening(t, join(d, 'tsock'));
      return writeNode(d, (doc) => void (doc.cluster = { ...doc.cluster, tokenFile: join(d, 'tsock') }));
    },
    key: 'cluster.tokenFile',
    says: ['is a socket, not a regular file'],
  },
  {
    name: 'token file is a character device',
    make: (_t, d) => writeNode(d, (doc) => void (doc.cluster = { ...doc.cluster, tokenFile: '/dev/zero' })),
    key: 'cluster.tokenFile',
    says: ['/dev/zero is a character device'],
  },
  ...['fe80::1%lo', 'fe80::1', '169.254.10.11', '::ffff:169.254.10.11', 'ff02::1', '::ffff:224.0.0.1'].map(
    (address): Row => ({
      name: `advertiseAddress ${address}`,
      make: (_t, d) => writeNode(d, (doc) => void (doc.node = { ...doc.node, advertiseAddress: address })),
      key: 'node.advertiseAddress',
      says: [JSON.stringify(address)],
    }),
  ),
  {
    name: 'advertiseAddress with a zone id from the environment',
    make: (_t, d) => writeNode(d),
    env: { ETCD_AGENT_NODE_ADVERTISE_ADDRESS: 'fe80::1%lo' },
    key: 'node.advertiseAddress',
    says: ['ETCD_AGENT_NODE_ADVERTISE_ADDRESS', 'zone id'],
  },
];

t.test('hostile and careless config files are refused with exit code 2, naming the file or key, writing nothing', async (t) => {
  for (const row of ROWS) {
    await t.test(row.name, async (t) => {
      const dir = await tempDir(t);
      const file = await row.make(t, dir);
      const before = (await readdir(dir)).sort();
      const err = await expectInvalid(t, file, row.env);
      t.equal(err.code, 'EA_CONFIG_INVALID', 'a config error, not "not configured"');
      t.equal(err.exitCode, 2);
      const key = row.key === 'file' ? file : row.key;
      t.same([...new Set(err.problems.map((p) => p.key))], [key], `reported under ${key}: ${err.message}`);
      t.ok(err.message.includes(file), `the message names the config file: ${err.message}`);
      if (row.key !== 'file') for (const p of err.problems) t.ok(p.message.includes(key), `"${p.message}" names ${key}`);
      for (const s of row.says) t.ok(err.message.includes(s), `message says ${JSON.stringify(s)}: ${err.message}`);
      t.ok(err.message.length < 2000, 'one short message');
      t.notOk(err.message.includes(TOKEN), 'the token never appears');
      t.same((await readdir(dir)).sort(), before, 'nothing written');
    });
  }
});

t.test('parseConfigText: depth limit is exact, ordinary nesting and a few aliases pass', async (t) => {
  const ok = parseConfigText(indentedMaps(MAX_CONFIG_DEPTH), 'f.yaml');
  t.same(ok.problems, [], `${MAX_CONFIG_DEPTH} levels are allowed`);
  t.equal(parseConfigText(indentedMaps(MAX_CONFIG_DEPTH + 1), 'f.yaml').problems.length, 1, `${MAX_CONFIG_DEPTH + 1} are not`);
  t.equal(parseConfigText(`${'['.repeat(MAX_CONFIG_DEPTH)}${']'.repeat(MAX_CONFIG_DEPTH)}`).problems.length, 0);
  t.equal(parseConfigText(`${'['.repeat(MAX_CONFIG_DEPTH + 1)}${']'.repeat(MAX_CONFIG_DEPTH + 1)}`).problems.length, 1);
  t.same(parseConfigText('k: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[["\nl: |\n  {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n').raw, {
    k: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
    l: '{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n',
  }, 'brackets inside strings are not nesting');
  t.same(parseConfigText('x: &s [a, b]\ny: *s\n').raw, { x: ['a', 'b'], y: ['a', 'b'] }, 'an alias or two is fine');
  const many = parseConfigText(`${Array.from({ length: 200 }, (_, i) => `k${i}: @x`).join('\n')}\n`, 'f.yaml');
  t.ok(many.problems.length > 0 && many.problems.length <= 11, `a file full of errors reports at most 10 of them and a count (${many.problems.length})`);
  t.match(many.problems.at(-1)?.message ?? '', /\d+ more YAML syntax errors not listed/);
  const two = parseConfigText('a: 1\n---\nb: 2\n', 'f.yaml');
  t.match(two.problems[0]?.message ?? '', 'more than one YAML document');
});

t.test('a deeply nested file parsed repeatedly in one process does not abort it', async (t) => {
  // The yaml library's composer aborted the process on the second parse of such a document.
  for (let i = 0; i < 3; i++) t.equal(parseConfigText('['.repeat(5000), 'f.yaml').problems.length, 1);
  t.equal(parseConfigText('['.repeat(MAX_CONFIG_BYTES), 'f.yaml').problems.length, 1, 'a 1 MiB file of "[" too');
});

t.test('advertiseAddressProblem accepts exactly what a certificate can carry', async (t) => {
  for (const ok of ['10.0.0.11', '127.0.0.11', 'fd00::11', '2001:db8::1', '::ffff:10.0.0.1']) {
    t.equal(advertiseAddressProblem(ok), undefined, ok);
    t.not(canonicalIp(ok), undefined, `${ok} goes into a certificate`);
  }
  for (const bad of ['fe80::1%lo', 'fe80::1', 'febf::1', '169.254.1.1', '0.0.0.0', '::', '255.255.255.255', '224.0.0.251', 'ff02::fb', 'host.example', '10.0.0.1%eth0']) {
    t.type(advertiseAddressProblem(bad), 'string', bad);
  }
});

t.test('the default config path that sets no keys is still "not configured"; ETCD_AGENT_CONFIG naming an empty file is an error', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'etc/etcd-agent'), { recursive: true });
  const defaultFile = join(dir, 'etc/etcd-agent/config.yaml');
  await writeFile(defaultFile, '# every key commented out\n');
  const byDefault = await loadConfig({ root: dir, env: {} }).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.equal(byDefault?.code, NOT_CONFIGURED);

  const explicit = join(dir, 'empty.yaml');
  await writeFile(explicit, '');
  const viaEnv = await loadConfig({ env: { ETCD_AGENT_CONFIG: explicit } }).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.equal(viaEnv?.code, 'EA_CONFIG_INVALID');
  t.equal(viaEnv?.exitCode, 2);
  t.match(viaEnv?.message ?? '', `config file ${explicit} sets no keys`);

  const withOverrides = await loadConfig({ path: explicit, env: { ETCD_AGENT_CLUSTER_NAME: 'prod' } }).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.match(withOverrides?.message ?? '', 'cluster.size is missing', 'an empty file plus environment overrides is validated as before');
});
