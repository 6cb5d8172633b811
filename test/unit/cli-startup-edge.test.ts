import t, { type Test } from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { StateStore } from '../../src/agent/bootstrap/state-store.js';
import { generateToken } from '../../src/pki/token.js';
import { requireBuilt } from '../helpers/agents.js';
import { REPO } from '../helpers/fixtures.js';
import { BILLION_LAUGHS } from '../helpers/hostile-inputs.js';

/**
 * Start-up edge cases, run through the built CLI as a process (a crash of the
 * yaml library aborts the process, a FIFO blocks it): each bad config makes
 * both `check-config` and `run` exit 2 promptly, naming the file and the key,
 * with nothing under the node's root written. Every process has a bounded
 * timeout, so a hang fails the test instead of blocking it.
 *
 * Addresses: 127.0.103.0/24 (this file's subnet); the ports are unusual so
 * that an agent which does start (old code) collides with nobody.
 */

const BIN = join(REPO, 'bin/etcd-agent.js');
const TOKEN = generateToken();
const ADDRESS = '127.0.103.10';
const TIMEOUT_MS = 20_000;

interface Run {
  code: number | null;
  out: string;
  err: string;
  timedOut: boolean;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, timeout: TIMEOUT_MS, killSignal: 'SIGKILL', env: { PATH: process.env.PATH ?? '', ...env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
        const code = e === null ? 0 : typeof e.code === 'number' ? e.code : null;
        resolve({ code, out: stdout, err: stderr, timedOut: e?.killed === true });
      },
    );
  });
}

/** Every entry under dir: directories, regular files by content hash, anything else by its kind. Never opens a FIFO. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) {
        out[`${p}/`] = (st.mode & 0o7777).toString(8);
        await walk(p);
      } else if (st.isFile()) {
        out[p] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(await readFile(p)).digest('hex')}`;
      } else {
        out[p] = st.isFIFO() ? 'fifo' : 'other';
      }
    }
  };
  await walk(dir);
  return out;
}

interface Node {
  root: string;
  config: string;
  token: string;
  dataDir: string;
  stateDir: string;
}

/** A valid single-node config under a fresh root (written directly: some cases hold values `init` would refuse). */
async function makeNode(t: Test, edit: (doc: Record<string, Record<string, unknown>>) => void = () => undefined): Promise<Node> {
  const root = await mkdtemp(join(tmpdir(), 'ea-startup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const etc = join(root, 'etc/etcd-agent');
  await mkdir(etc, { recursive: true, mode: 0o700 });
  const node: Node = {
    root,
    config: join(etc, 'config.yaml'),
    token: join(etc, 'token'),
    dataDir: join(root, 'var/lib/etcd/edge'),
    stateDir: join(root, 'var/lib/etcd-agent'),
  };
  await writeFile(node.token, `${TOKEN}\n`, { mode: 0o600 });
  const doc: Record<string, Record<string, unknown>> = {
    cluster: { name: 'edge', size: 1, tokenFile: node.token },
    node: { name: 'n1', advertiseAddress: ADDRESS },
    discovery: { mdns: false },
    peerApi: { port: 41390 },
    statusApi: { address: `${ADDRESS}:41391` },
    etcd: { clientPort: 41379, peerPort: 41380 },
    paths: { root },
  };
  edit(doc);
  await writeFile(node.config, `${stringify(doc)}serviceManager: process\n`, { mode: 0o600 });
  return node;
}

const mkfifo = (path: string): void => {
  execFileSync('mkfifo', ['-m', '0600', path]);
};


interface Case {
  name: string;
  /** Breaks the node; returns extra environment for the commands, if any. */
  make: (n: Node) => Promise<NodeJS.ProcessEnv | void>;
  /** Config given through ETCD_AGENT_CONFIG instead of --config. */
  viaEnv?: boolean;
  /** Besides the config path, the message names these (the key, the file). */
  says: (n: Node) => string[];
}

const CASES: Case[] = [
  {
    name: 'a 2 KB config of 1000 nested "[" (the yaml library aborted the process: FATAL ERROR, exit 134)',
    make: async (n) => writeFile(n.config, '[ '.repeat(1000)),
    says: () => ['levels deep'],
  },
  {
    name: '1000 nested "[" in a value (821 "Maximum call stack size exceeded" problems)',
    make: async (n) => writeFile(n.config, `cluster:\n  name: ${'['.repeat(1000)}\n`),
    says: () => ['levels deep'],
  },
  {
    name: 'a YAML alias bomb',
    make: async (n) => writeFile(n.config, BILLION_LAUGHS),
    says: () => ['aliases', 'limited'],
  },
  {
    name: 'the config file is a FIFO (hung)',
    make: async (n) => {
      await rm(n.config);
      mkfifo(n.config);
    },
    says: () => ['FIFO', 'not a regular file'],
  },
  {
    name: 'the token file is a FIFO (hung)',
    make: async (n) => {
      await rm(n.token);
      mkfifo(n.token);
    },
    says: (n) => ['cluster.tokenFile', n.token, 'FIFO'],
  },
  {
    name: 'a 3 MiB config (was read whole, then parsed)',
    make: async (n) => writeFile(n.config, `${await readFile(n.config, 'utf8')}${`# ${'x'.repeat(1021)}\n`.repeat(3 * 1024)}`),
    says: () => ['larger than 1048576 bytes'],
  },
  {
    name: 'a 64 KiB token file',
    make: async (n) => writeFile(n.token, `${TOKEN}\n${'#'.repeat(64 * 1024)}\n`, { mode: 0o600 }),
    says: (n) => ['cluster.tokenFile', n.token, 'larger than 4096 bytes'],
  },
  {
    name: 'an empty config named with --config (exited 0 "not configured")',
    make: async (n) => writeFile(n.config, ''),
    says: () => ['sets no keys'],
  },
  {
    name: 'a comments-only config named by ETCD_AGENT_CONFIG (exited 0 "not configured")',
    make: async (n) => writeFile(n.config, '# cluster:\n#   name: edge\n'),
    viaEnv: true,
    says: () => ['sets no keys'],
  },
  {
    name: 'advertiseAddress fe80::1%lo (passed, then the agent looped on EA_PKI_ADDRESS_INVALID)',
    make: async (n) => writeFile(n.config, (await readFile(n.config, 'utf8')).replace(`advertiseAddress: ${ADDRESS}`, 'advertiseAddress: fe80::1%lo')),
    says: () => ['node.advertiseAddress', '"fe80::1%lo"', 'zone id'],
  },
  {
    name: 'etcd.dataDir already holds data (run wrote state, keys, certificates and etcd.conf first)',
    make: async (n) => {
      await mkdir(join(n.dataDir, 'member/snap'), { recursive: true });
      await writeFile(join(n.dataDir, 'member/snap/db'), 'someone else');
    },
    says: (n) => ['etcd.dataDir', n.dataDir, 'already holds data'],
  },
];

t.before(() => requireBuilt());

t.test('each bad start-up input: check-config and run exit 2 naming the file and key, and write nothing', async (t) => {
  for (const c of CASES) {
    await t.test(c.name, async (t) => {
      const n = await makeNode(t);
      const extra = (await c.make(n)) ?? {};
      for (const command of ['check-config', 'run']) {
        const before = await snapshot(n.root);
        const r = c.viaEnv === true ? await cli([command], { ...extra, ETCD_AGENT_CONFIG: n.config }) : await cli([command, '--config', n.config], extra);
        t.notOk(r.timedOut, `${command} finished within ${TIMEOUT_MS / 1000} s`);
        t.equal(r.code, 2, `${command} exits 2: ${r.err.slice(0, 500)}`);
        for (const s of [n.config, ...c.says(n)]) t.ok(r.err.includes(s), `${command} says ${JSON.stringify(s)}: ${r.err.slice(0, 500)}`);
        t.notMatch(r.err, /FATAL|Error: |\n\s+at /, `${command}: a sentence, no crash or stack trace`);
        t.ok(r.err.length < 3000, `${command}: a short message`);
        t.notOk(r.err.includes(TOKEN) || r.out.includes(TOKEN), `${command} never prints the token`);
        t.same(await snapshot(n.root), before, `${command} wrote nothing under ${n.root}`);
      }
    });
  }
});

t.test('a data dir this node claimed (a formed node restarting) passes check-config', async (t) => {
  const n = await makeNode(t);
  await mkdir(join(n.dataDir, 'member/snap'), { recursive: true });
  await writeFile(join(n.dataDir, 'member/snap/db'), 'ours');
  const store = new StateStore(n.stateDir);
  await store.init();
  const now = new Date().toISOString();
  await store.saveEnrollment({ clusterName: 'edge', initialClusterToken: 'edge-1', view: [], caFingerprint: 'ab', enrolledAt: now, dataDirClaimedAt: now });
  const r = await cli(['check-config', '--config', n.config]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, `config ${n.config} is valid`);
});

t.test('init over a FIFO (config or token file) refuses at once and writes nothing', async (t) => {
  for (const which of ['config', 'token'] as const) {
    const root = await mkdtemp(join(tmpdir(), 'ea-init-fifo-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const config = join(root, 'etc/etcd-agent/config.yaml');
    const tokenFile = join(root, 'etc/etcd-agent/token'); // where init --token writes the token
    await mkdir(dirname(config), { recursive: true });
    mkfifo(which === 'config' ? config : tokenFile);
    const before = await snapshot(root);
    const r = await cli([
      'init', '--root', root, '--config', config, '--cluster', 'edge', '--size', '1', `--token=${TOKEN}`,
      '--advertise-address', ADDRESS, '--no-mdns', '--service-manager', 'process',
    ]);
    t.notOk(r.timedOut, `${which}: init finished within ${TIMEOUT_MS / 1000} s (it used to hang on the FIFO)`);
    t.equal(r.code, 2, `${which}: exit 2: ${r.err.slice(0, 300)}`);
    t.match(r.err, /FIFO/, `${which}: says what is at the path`);
    t.ok(r.err.includes(which === 'config' ? config : tokenFile), `${which}: names the file`);
    t.same(await snapshot(root), before, `${which}: nothing written`);
  }
});
