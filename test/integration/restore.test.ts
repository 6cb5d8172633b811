/**
 * Issue 12 restore against real etcd and real agents on loopback:
 * #4 — `restore` on a healthy cluster without --force is refused and changes
 * nothing (subnet 92); #3 — a 3-node cluster loses quorum for good (two hosts
 * killed and wiped), `restore --snapshot` on the survivor, the two hosts
 * reinstalled: a healthy 3-voter cluster with every key, a new cluster id on
 * all three, none serving the old one (subnet 93); and an old member that
 * comes back with its data intact never serves the old cluster again: it
 * steps aside and rejoins the new one (subnet 94).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generateToken } from '../../src/pki/index.js';
import { cliAsync, NodeSet, type TestNode } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(900_000);

interface Member {
  id: string;
  name: string;
  learner: boolean;
}

/** Helpers over one NodeSet. */
function tools(set: NodeSet, cluster: string) {
  const endpointStatus = (n: TestNode): { clusterId: string; revision: number } | undefined => {
    const r = set.etcdctl(n, ['endpoint', 'status', '-w', 'json']);
    if (r.status !== 0) return undefined;
    return { clusterId: clusterIdOf(r.stdout), revision: (JSON.parse(r.stdout) as { Status: { header: { revision: number } } }[])[0]!.Status.header.revision };
  };
  const members = (n: TestNode): Member[] => {
    const r = set.etcdctl(n, ['member', 'list', '-w', 'json']);
    if (r.status !== 0) throw new Error(`member list: ${r.stderr}`);
    const ids = [...r.stdout.matchAll(/"ID":(\d+)/g)].map((m) => BigInt(m[1]!).toString(16));
    return (JSON.parse(r.stdout) as { members: { name?: string; isLearner?: boolean }[] }).members.map((m, i) => ({
      id: ids[i] ?? '?',
      name: m.name ?? '',
      learner: Boolean(m.isLearner),
    }));
  };
  const put = (n: TestNode, prefix: string, count: number): void => {
    for (let i = 0; i < count; i++) {
      const r = set.etcdctl(n, ['put', `issue12/${prefix}/${i}`, `${prefix}-${i}`]);
      if (r.status !== 0) throw new Error(`put: ${r.stderr}`);
    }
  };
  const values = (n: TestNode): Record<string, string> => {
    const r = set.etcdctl(n, ['get', 'issue12/', '--prefix', '-w', 'json']);
    if (r.status !== 0) throw new Error(`get: ${r.stderr}`);
    const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    return Object.fromEntries(kvs.map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]));
  };
  const holder = async (): Promise<TestNode> => {
    for (const n of set.nodes) if ((await set.status(n)).caHolder?.self) return n;
    throw new Error('no CA holder');
  };
  const sizeRecorded = (n: TestNode): Promise<unknown> =>
    waitFor('the wanted size recorded in etcd', () => set.etcdctl(n, ['get', `/etcd-agent/${cluster}/size`, '--print-value-only']).stdout.trim() === '3', { timeoutMs: 30_000 });
  return { endpointStatus, members, put, values, holder, sizeRecorded };
}

/** etcdctl's JSON prints 64-bit ids as bare numbers, beyond what JSON.parse keeps exactly: read the digits. */
function clusterIdOf(json: string): string {
  const m = /"cluster_id":(\d+)/.exec(json);
  if (!m) throw new Error(`no cluster_id in ${json.slice(0, 200)}`);
  return BigInt(m[1]!).toString(16);
}

/** Every file under `dir` with a hash of its content (directories by name), to prove nothing changed. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out[`${relative(dir, p)}/`] = 'dir';
        walk(p);
      } else if (e.isFile()) {
        out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * Polls `n`'s /status every 200 ms until the CA-role election has named it
 * holder for 12 s on end (longer than a CA-role lease, 8 s, lives on in a
 * restored cluster), at most 90 s; resolves with the CA holders it named, in
 * order, each run of one name once.
 */
async function watchCaHolder(set: NodeSet, n: TestNode): Promise<string[]> {
  const named: string[] = [];
  const deadline = Date.now() + 90_000;
  let selfSince: number | undefined;
  while (Date.now() < deadline) {
    const holder = await set.status(n).then((s) => s.caHolder, () => null);
    if (holder && named.at(-1) !== holder.name) named.push(holder.name);
    selfSince = holder?.self && holder.source === 'election' ? (selfSince ?? Date.now()) : undefined;
    if (selfSince !== undefined && Date.now() - selfSince >= 12_000) return named;
    await new Promise((r) => setTimeout(r, 200));
  }
  return [...named, '(the survivor did not hold the CA role for 12 s on end within 90 s)'];
}

/** Polls every node's etcd for the cluster id it serves, in the background, until stopped; records what it saw. */
function watchClusterIds(set: NodeSet): { stop(): Promise<Map<string, Set<string>>> } {
  const seen = new Map<string, Set<string>>();
  let running = true;
  const one = (n: TestNode): Promise<void> =>
    new Promise((resolve) => {
      execFile(
        'etcdctl',
        [`--endpoints=https://${n.address}:2379`, '--dial-timeout=1s', '--command-timeout=2s', `--cacert=${set.pki(n, 'ca.crt')}`, `--cert=${set.pki(n, 'etcdctl.crt')}`, `--key=${set.pki(n, 'etcdctl.key')}`, 'endpoint', 'status', '-w', 'json'],
        { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 5000 },
        (err, stdout) => {
          if (!err) {
            try {
              const id = clusterIdOf(stdout);
              if (!seen.has(n.name)) seen.set(n.name, new Set());
              seen.get(n.name)!.add(id);
            } catch {
              // half an answer: nothing seen
            }
          }
          resolve();
        },
      );
    });
  const loop = (async () => {
    while (running) {
      await Promise.all(set.nodes.map((n) => (existsSync(set.pki(n, 'etcdctl.key')) ? one(n) : Promise.resolve())));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

t.test('issue 12 #4: restore on a healthy cluster without --force is refused and changes nothing', async (t) => {
  const set = new NodeSet({ subnet: 92, count: 3, token: generateToken(), cluster: 'healthy' });
  t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
  const { put, holder, endpointStatus } = tools(set, 'healthy');
  put(set.nodes[0]!, 'healthy', 5);
  const h = await holder();
  const snapshot = join(h.root, 'saved.db');
  const saved = await cliAsync(['snapshot', 'save', snapshot, '--config', h.configPath]);
  t.equal(saved.status, 0, saved.stderr);
  const clusterId = endpointStatus(h)!.clusterId;

  const running = await cliAsync(['restore', '--snapshot', snapshot, '--config', h.configPath]);
  t.equal(running.status, 1, 'refused while the agent runs');
  t.match(running.stderr, /restore refused: the agent is running on this host .* Nothing was changed\. Stop it first: systemctl stop etcd-agent etcd/);

  await set.stop(h);
  const before = fingerprint(h.root);
  const refused = await cliAsync(['restore', '--snapshot', snapshot, '--config', h.configPath]);
  t.equal(refused.status, 1, `refused: ${refused.stdout}${refused.stderr}`);
  t.match(refused.stderr, /restore refused: https:\/\/127\.0\.92\.\d+:2379 is a healthy member of cluster [0-9a-f]+: the cluster has a leader and answers reads/);
  t.match(refused.stderr, /Nothing was changed\. Repair the cluster instead .* run the restore again with --force/);
  t.same(fingerprint(h.root), before, 'no file under the node root changed, none added (state, data dir, etcd.conf, pki)');

  set.start(h);
  await set.waitFormed(set.nodes, 60_000);
  t.equal(endpointStatus(h)!.clusterId, clusterId, 'the node is back in the same cluster');
});

t.test('issue 12 #3: quorum lost for good, restore on the survivor, two reinstalled hosts rejoin: 3 healthy voters, every key, a new cluster id everywhere', async (t) => {
  const cluster = 'phoenix';
  const set = new NodeSet({ subnet: 93, count: 3, token: generateToken(), cluster });
  t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
  const { put, values, holder, endpointStatus, members, sizeRecorded } = tools(set, cluster);
  const survivor = await holder();
  const lost = set.nodes.filter((n) => n !== survivor);
  await sizeRecorded(survivor);
  put(survivor, 'before', 30);
  const snapshot = join(survivor.root, 'before-disaster.db');
  const saved = await cliAsync(['snapshot', 'save', snapshot, '--config', survivor.configPath]);
  t.equal(saved.status, 0, saved.stderr);
  const expected = values(survivor);
  const oldId = endpointStatus(survivor)!.clusterId;

  // Two hosts gone for good: agents and etcd killed, disks wiped.
  for (const n of lost) {
    n.proc?.kill('SIGKILL');
    set.killEtcd(n);
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const n of lost) rmSync(n.root, { recursive: true, force: true });
  await set.stop(survivor);

  const restored = await cliAsync(['restore', '--snapshot', snapshot, '--config', survivor.configPath], {}, 120_000);
  t.equal(restored.status, 0, `restore: ${restored.stdout}${restored.stderr}`);
  t.match(restored.stdout, new RegExp(`no other member of cluster ${oldId} answers with quorum`));
  const newId = /New cluster id ([0-9a-f]+) \(was ([0-9a-f]+)\)/.exec(restored.stdout);
  t.ok(newId, 'the restore names the new cluster id');
  t.equal(newId?.[2], oldId);
  t.not(newId?.[1], oldId, 'a new cluster id');
  const dataParent = join(survivor.root, 'var', 'lib', 'etcd');
  t.ok(readdirSync(dataParent).some((d) => d.startsWith(`${cluster}.before-restore-`)), 'the old data dir is kept beside the new one');

  set.start(survivor);
  // The snapshot holds the old cluster's CA-role candidates of all three hosts; revived by etcd, they would
  // name a gone host as CA holder for seconds (a joiner admitted then asks it to sign, for ever).
  const holdersSeen = watchCaHolder(set, survivor);
  await set.waitFormed([survivor], 60_000);
  t.equal(endpointStatus(survivor)!.clusterId, newId?.[1], 'etcd serves the cluster id the restore announced');
  t.equal((await set.status(survivor)).cluster.id, newId?.[1], '/status says the new cluster id');
  t.same(values(survivor), expected, 'every key written before the snapshot');
  const named = await holdersSeen;
  t.same(named.filter((n) => n !== survivor.name), [], `the survivor's /status never named another host as CA holder (saw ${named.join(', ')})`);
  t.equal(named.at(-1), survivor.name, 'the survivor holds the CA role');
  const revoked = /"revoked":(\d+)[^\n]*revoked the old cluster's leases that came along in the snapshot/.exec(readFileSync(survivor.logFile, 'utf8'));
  t.ok(Number(revoked?.[1]) >= 3, `the survivor revoked the snapshot's leases, at least the three old CA-role candidates (${revoked?.[1] ?? 'none logged'})`);
  const candidates = set.etcdctl(survivor, ['get', `/etcd-agent/${cluster}/ca/election`, '--prefix', '--print-value-only']);
  t.equal((candidates.stdout.match(/"nodeId"/g) ?? []).length, 1, `one CA-role candidate left, the survivor's own: ${candidates.stdout}`);

  // The two hosts reinstalled: same names and addresses, fresh disks, same join token.
  const watch = watchClusterIds(set);
  for (const n of lost) {
    await set.initNode(n, set.nodes);
    set.start(n);
  }
  await set.waitFormed(set.nodes, 240_000);
  await waitFor('3 voters, no learner', () => {
    const m = members(survivor);
    return m.length === 3 && m.every((x) => !x.learner) ? m : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1000, describe: () => set.describe() });
  const seen = await watch.stop();
  for (const n of set.nodes) {
    t.equal(endpointStatus(n)!.clusterId, newId?.[1], `${n.name} serves the new cluster id`);
    t.equal((await set.status(n)).cluster.id, newId?.[1], `${n.name}: /status says the new cluster id`);
    t.same(values(n), expected, `${n.name} holds every key written before the snapshot`);
  }
  for (const [name, ids] of seen) t.notOk(ids.has(oldId), `${name} never served the old cluster id (saw ${[...ids].join(', ')})`);
  const health = set.etcdctl(survivor, ['endpoint', 'health', '--cluster']);
  t.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3, 'three healthy members');
});

t.test('issue 12 #3: a member of the old cluster that comes back with its data never serves the old cluster id; it steps aside and rejoins', async (t) => {
  const cluster = 'lazarus';
  const set = new NodeSet({ subnet: 94, count: 3, token: generateToken(), cluster });
  t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));
  await set.init();
  for (const n of set.nodes) set.start(n);
  await set.waitFormed(set.nodes, 90_000);
  const { put, values, holder, endpointStatus, members, sizeRecorded } = tools(set, cluster);
  const survivor = await holder();
  const others = set.nodes.filter((n) => n !== survivor);
  await sizeRecorded(survivor);
  put(survivor, 'before', 10);
  const snapshot = join(survivor.root, 'saved.db');
  t.equal((await cliAsync(['snapshot', 'save', snapshot, '--config', survivor.configPath])).status, 0);
  const expected = values(survivor);
  const oldId = endpointStatus(survivor)!.clusterId;

  // The other two go down (power loss), their disks intact; the survivor is restored.
  for (const n of others) await set.stop(n);
  await set.stop(survivor);
  const restored = await cliAsync(['restore', '--snapshot', snapshot, '--config', survivor.configPath], {}, 120_000);
  t.equal(restored.status, 0, `restore: ${restored.stdout}${restored.stderr}`);
  set.start(survivor);
  await set.waitFormed([survivor], 60_000);
  const newId = endpointStatus(survivor)!.clusterId;
  t.not(newId, oldId);
  await waitFor('the restored record in etcd', () => set.etcdctl(survivor, ['get', `/etcd-agent/${cluster}/restored`, '--print-value-only']).stdout.includes(oldId), { timeoutMs: 30_000 });

  // The two come back with their old data: never serving the old cluster, they step aside and rejoin.
  const watch = watchClusterIds(set);
  const logFrom = new Map(others.map((n) => [n, statSync(n.logFile).size]));
  for (const n of others) set.start(n);
  await waitFor('both old members to step aside', () => others.every((n) => readFileSync(n.logFile, 'utf8').includes('state and data set aside')), {
    timeoutMs: 60_000,
    describe: () => set.describe(others),
  });
  await set.waitFormed(set.nodes, 240_000);
  await waitFor('3 voters, no learner', () => {
    const m = members(survivor);
    return m.length === 3 && m.every((x) => !x.learner) ? m : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1000, describe: () => set.describe() });
  const seen = await watch.stop();
  for (const [name, ids] of seen) t.notOk(ids.has(oldId), `${name} never served the old cluster id (saw ${[...ids].join(', ')})`);
  for (const n of others) {
    // The lineage check runs before etcd is first started: on the old data, etcd never started at all.
    const log = readFileSync(n.logFile, 'utf8').slice(logFrom.get(n));
    const asideAt = log.indexOf('state and data set aside');
    const startedAt = log.search(/starting etcd \(process service manager\)/);
    t.ok(asideAt >= 0 && (startedAt < 0 || asideAt < startedAt), `${n.name} set its old data aside before it ever started etcd on it`);
    const dataParent = join(n.root, 'var', 'lib', 'etcd');
    const aside = readdirSync(dataParent).filter((d) => d.startsWith(`${cluster}.superseded-`));
    t.equal(aside.length, 1, `${n.name}: its old data dir is kept (${aside.join(', ')})`);
    t.ok(statSync(join(dataParent, aside[0]!, 'member')).isDirectory(), 'with its etcd data in it');
    t.equal(endpointStatus(n)!.clusterId, newId, `${n.name} serves the new cluster`);
    t.same(values(n), expected, `${n.name} holds every key`);
  }
});
