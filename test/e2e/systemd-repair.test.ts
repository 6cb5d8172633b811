/**
 * Repair on hosts that boot systemd (issue 10), one cluster, subtests in order:
 *
 * #2 Kill one host of three for good with a spare waiting: after deadAfter
 *    (10 s here) the dead member is removed, the spare joins as a learner and
 *    is promoted; a writer writes through a surviving host all along and no
 *    write fails (quorum is never lost); every key is readable on the spare.
 * #4 (systemd) A member's data dir is wiped while its host is down: at boot
 *    systemd does not start etcd on the empty dir (the unit's condition), the
 *    agent has its old member removed and itself re-added under the same
 *    name; same cluster id on every node; the data comes back by replication.
 *
 * The victim of #2 is neither the raft leader (quorum is the point, not an
 * election) nor the CA holder (the spare enrolls with it; CA failover is
 * another test). Every wait is bounded; the bed tears everything down.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { SystemdTestBed, requireSystemdHosts, type SystemdHost } from '../helpers/nspawn.js';
import { agentStatus, clusterIds, diagnose, etcdctl, initAgent, memberList, readyz } from '../helpers/systemd-agents.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(900_000);

const CLUSTER = 'sdr';
const DATA_DIR = `/var/lib/etcd/${CLUSTER}`;
const DEAD_AFTER_S = 10;

/** Writes key w-<n> through `h` every ~300 ms until stopped; counts what failed. */
function startWriter(h: SystemdHost): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const loop = (async () => {
    for (let n = 0; running; n++) {
      const r = await etcdctl(h, `put w-${n} ${n}`, { endpoint: `https://${h.address}:2379`, check: false }).catch((e: unknown) => ({ code: 1, output: String(e) }));
      if (r.code === 0) ok++;
      else failed.push(`w-${n} at ${new Date().toISOString()}: ${r.output.trim().slice(0, 300)}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

if (requireSystemdHosts(t)) {
  const bed = await SystemdTestBed.create(t, { prefix: 'easr', subnet: 233, hosts: 4 });
  const hosts = bed.hosts;
  const initial = hosts.slice(0, 3);
  const spare = hosts[3]!;
  const token = randomBytes(24).toString('base64url');
  const extraYaml = `membership:\n  deadAfter: ${DEAD_AFTER_S}s\n`;

  t.before(async () => {
    await bed.bootAll();
    for (const h of hosts) {
      await initAgent(h, { cluster: CLUSTER, size: 3, token, seeds: initial, extraYaml });
      await h.exec(['systemctl', 'enable', 'etcd-agent']);
    }
    const started = Date.now();
    await Promise.all(initial.map((h) => h.exec(['systemctl', 'start', 'etcd-agent'], { timeoutMs: 90_000 })));
    await waitFor('the three initial agents ready', async () => (await Promise.all(initial.map(readyz))).every((c) => c === '200'), {
      timeoutMs: 120_000,
      intervalMs: 500,
      describe: () => diagnose(initial),
    });
    t.comment(`formation under systemd: ${Date.now() - started} ms`);
  });

  t.test('issue 10 #2: a host dies for good with a spare waiting; the spare replaces it; quorum is never lost; data intact', async (t) => {
    await spare.exec(['systemctl', 'start', 'etcd-agent'], { timeoutMs: 90_000 });
    const waiting = await waitFor('host4 waits as a spare', async () => {
      const s = await agentStatus(spare);
      return s.phase === 'spare' ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, describe: () => diagnose([spare]) });
    t.match(waiting.reason, /3 of 3 voters/, `the spare says why it waits: ${waiting.reason}`);

    const s1 = await agentStatus(initial[0]!);
    const leaderName = s1.leader?.name;
    const holderName = s1.caHolder?.name;
    const victim = initial.find((h) => h.name !== leaderName && h.name !== holderName)!;
    const survivors = initial.filter((h) => h !== victim);
    const writerHost = survivors[0]!;
    const before = await memberList(writerHost);
    const victimId = before.members.find((m) => m.name === victim.name)!.id;
    t.comment(`leader ${leaderName}, CA holder ${holderName}: ${victim.name} (${victimId}) dies; writes go through ${writerHost.name}`);

    const writer = startWriter(writerHost);
    await new Promise((r) => setTimeout(r, 1500));
    const died = Date.now();
    await victim.halt();
    let sawDead: string | undefined;
    const replaced = await waitFor('the dead member removed and the spare a voter: 3 voters, no learner', async () => {
      // Each member keeps its own unhealthy clock (from its own health looks, every 5 s): the member that removes
      // the victim has called it dead first, but another may not have yet. Any survivor saying so counts.
      for (const h of survivors) {
        if (sawDead) break;
        const s = await agentStatus(h).catch(() => undefined);
        const m = s?.members.find((x) => x.id === victimId);
        if (m?.dead) sawDead = `${Date.now() - died} ms after the halt, /status on ${h.name} said ${victim.name} is dead (unhealthy for ${m.unhealthyForMs} ms)`;
      }
      const list = await memberList(writerHost);
      const voters = list.members.filter((m) => !m.isLearner);
      const done = voters.length === 3 && list.members.length === 3 && voters.some((m) => m.name === spare.name) && !list.members.some((m) => m.id === victimId);
      return done ? list : undefined;
    }, { timeoutMs: DEAD_AFTER_S * 1000 + 120_000, intervalMs: 500, describe: () => diagnose([...survivors, spare]) });
    const elapsed = Date.now() - died;
    await waitFor('the replacement ready', async () => (await readyz(spare)) === '200', { timeoutMs: 60_000, intervalMs: 500, describe: () => diagnose([spare]) });
    const writes = await writer.stop();
    t.comment(`host death → healthy 3-voter cluster with the spare promoted: ${elapsed} ms (deadAfter ${DEAD_AFTER_S} s)`);

    t.ok(sawDead, sawDead ?? '/status never said the victim was dead before it was removed');
    t.ok(elapsed >= DEAD_AFTER_S * 1000, `not replaced before deadAfter (${elapsed} ms)`);
    t.same(replaced.members.map((m) => m.name).sort(), [...survivors.map((h) => h.name), spare.name].sort(), 'members: the two survivors and the spare');
    t.equal(replaced.clusterId, before.clusterId, 'same cluster');
    t.same(writes.failed, [], `every write succeeded while the host died and was replaced (${writes.ok} writes): quorum never lost`);
    t.ok(writes.ok > 10, `the writer kept writing (${writes.ok} writes)`);

    const last = writes.ok - 1;
    const keys = await etcdctl(spare, 'get w- --prefix --keys-only', { endpoint: `https://${spare.address}:2379` });
    const held = keys.stdout.split('\n').filter((l) => l.startsWith('w-')).length;
    // A write that failed may still have been applied; every one that succeeded must be there.
    t.ok(held >= writes.ok, `the spare holds every key written (data intact): ${held} keys for ${writes.ok} acknowledged writes`);
    t.equal((await etcdctl(spare, `get w-${last} --print-value-only`, { endpoint: `https://${spare.address}:2379` })).stdout.trim(), String(last), 'the last write');

    const ids = await clusterIds([...survivors, spare]);
    t.same([...new Set(ids.values())], [before.clusterId], `one cluster id on every node (${[...ids.entries()].map(([k, v]) => `${k}=${v}`).join(', ')})`);
    const ops = (await agentStatus(writerHost)) as { membership?: { ops: { op: string; target: string; reason: string; result: string }[] } | null };
    const log = ops.membership?.ops ?? [];
    t.ok(log.some((o) => o.op === 'remove' && o.target.includes(victim.name) && o.result === 'ok'), `ops log: ${victim.name} removed (${JSON.stringify(log)})`);
    t.ok(log.some((o) => o.op === 'promote' && o.target.includes(spare.name) && o.result === 'ok'), 'ops log: the spare promoted');
  });

  t.test('issue 10 #4 (systemd): a wiped data dir at boot: etcd is not started on it, the member is re-added under its name', async (t) => {
    const via = hosts.find((h) => h.running)!;
    const list = await memberList(via);
    const victim = hosts.find((h) => h.running && h !== via && list.members.some((m) => m.name === h.name))!;
    const others = hosts.filter((h) => h.running && h !== victim);
    const oldId = list.members.find((m) => m.name === victim.name)!.id;
    await etcdctl(others[0]!, 'put before-wipe kept');
    await victim.halt();
    // The disk stays mounted while the host is down: empty the data dir the way a replaced disk would be.
    bed.note(`wiping ${victim.name}:${DATA_DIR}`);
    const dataDir = `${victim.rootDir}${DATA_DIR}`;
    for (const e of await readdir(dataDir)) await rm(`${dataDir}/${e}`, { recursive: true, force: true });
    await victim.boot({ timeoutMs: 120_000 });

    const held = await victim.exec(['systemctl', 'show', 'etcd', '-p', 'ConditionResult', '-p', 'ActiveState']);
    t.match(held.stdout, /ConditionResult=no/, `systemd did not start etcd on the empty data dir at boot (${held.stdout.trim().replace(/\n/g, ', ')})`);
    const rejoined = await waitFor(`${victim.name} re-added under its name and a voter again`, async () => {
      const l = await memberList(others[0]!);
      const m = l.members.find((x) => x.name === victim.name);
      return m && !m.isLearner && m.id !== oldId && l.members.length === 3 ? { l, m } : undefined;
    }, { timeoutMs: 180_000, intervalMs: 1000, describe: () => diagnose(hosts.filter((h) => h.running)) });
    await waitFor(`${victim.name} ready`, async () => (await readyz(victim)) === '200', { timeoutMs: 60_000, intervalMs: 500, describe: () => diagnose([victim]) });
    t.not(rejoined.m.id, oldId, `a new member id (${oldId} → ${rejoined.m.id})`);
    const ids = await clusterIds(hosts.filter((h) => h.running));
    t.same([...new Set(ids.values())], [list.clusterId], 'one cluster id on every node');
    t.equal((await etcdctl(victim, 'get before-wipe --print-value-only', { endpoint: `https://${victim.address}:2379` })).stdout.trim(), 'kept', 'the data came back by replication');
    const formed = JSON.parse((await victim.readFile('/var/lib/etcd-agent/formed.json'))!) as { memberId: string; clusterId: string };
    t.equal(formed.memberId, rejoined.m.id, 'the formed marker records the new member id');
    t.equal(formed.clusterId, list.clusterId);
    t.match(await victim.readFile('/etc/etcd/etcd.conf'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
  });
}
