/**
 * Catalogue: hostile files on disk under a formed single-node cluster. For
 * each row the node's root is restored from a pristine copy, one file is
 * damaged, and the agent is started: it refuses with a message naming the
 * file (exiting, or running and saying so), the damaged file is left exactly
 * as it was, and the cluster is never bootstrapped again.
 */
import t from 'tap';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { generateToken } from '../../src/pki/index.js';
import { NodeSet, httpGet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';
import { DISK_CASES } from './disk-cases.js';

const set = new NodeSet({ subnet: 52, count: 1, size: 1, token: generateToken(), cluster: 'disk' });
t.teardown(() => set.cleanup(process.env.KEEP_TEST_DIRS === '1'));

t.test(`${DISK_CASES.length} damaged files on disk: refused by name, left as they are, no second cluster`, async (t) => {
  await set.init();
  const node = set.nodes[0]!;
  set.start(node);
  await set.waitFormed([node], 60_000);
  const clusterId = (await set.status(node)).cluster.id;
  await set.stop(node);
  set.killEtcd(node);
  const pristine = `${node.root}.pristine`;
  await cp(node.root, pristine, { recursive: true, preserveTimestamps: true });
  t.teardown(() => rm(pristine, { recursive: true, force: true }));

  const only = process.env.DISK_CASE_FILTER;
  for (const c of DISK_CASES.filter((x) => only === undefined || x.name.includes(only))) {
    await t.test(c.name, async (t) => {
      const listening = spawnSync('ss', ['-Hltnp', `src ${node.address}`], { encoding: 'utf8' }).stdout.trim();
      t.equal(listening, '', 'nothing of an earlier row still listens on the node address');
      await rm(node.root, { recursive: true, force: true });
      await cp(pristine, node.root, { recursive: true, preserveTimestamps: true });
      const file = join(node.root, c.file);
      const old = existsSync(file) ? await readFile(file, 'utf8') : '';
      let content = typeof c.content === 'function' ? c.content(old) : c.content;
      if (c.name.startsWith('etcdctl.crt replaced')) content = await readFile(join(node.root, 'etc/etcd/pki/ca.crt'), 'utf8');
      if (content === undefined) await rm(file);
      else await writeFile(file, content, { mode: 0o600 });
      const logStart = existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8').length : 0;
      set.start(node);
      const proc = node.proc!;
      let said = '';
      // Whatever happens in this row, its agent and etcd are gone before the next one starts.
      t.teardown(async () => {
        await set.stop(node);
        set.killEtcd(node);
      });
      await waitFor(`the agent to exit or to report the damaged ${c.file}`, async () => {
        const log = readFileSync(node.logFile, 'utf8').slice(logStart);
        if (proc.exitCode !== null) {
          said = log;
          return true;
        }
        try {
          const s = JSON.parse((await httpGet(node.address, node.statusPort, '/status')).body) as { reason: string; lastError: string | null; controllers?: { lastError: string | null }[] };
          const text = [s.reason, s.lastError, ...(s.controllers ?? []).map((x) => x.lastError)].join(' ');
          if (text.includes(c.says ?? basename(c.file))) {
            said = text;
            return true;
          }
        } catch {
          // not listening yet
        }
        return false;
      }, { timeoutMs: 30_000, intervalMs: 250, describe: async () => `${await set.describe([node])}` });
      const running = proc.exitCode === null;
      t.ok(said.includes(c.says ?? basename(c.file)), `${running ? 'status' : `exit ${proc.exitCode}`} names ${c.says ?? basename(c.file)}: ${said.slice(-400)}`);
      if (!running) t.not(proc.exitCode, 0, 'a refusal is not a success');
      if (running) t.equal((await httpGet(node.address, node.statusPort, '/healthz')).status, 200, 'the agent keeps running');
      await set.stop(node);
      set.killEtcd(node);
      const after = existsSync(file) ? await readFile(file, 'utf8') : undefined;
      t.equal(after, content, 'the damaged file is left exactly as it was');
      const formed = await readFile(join(node.root, 'var/lib/etcd-agent/formed.json'), 'utf8').catch(() => '');
      if (!c.file.endsWith('formed.json')) t.match(formed, clusterId ?? 'x', 'the formed marker still names the one cluster id');
    });
  }
});
