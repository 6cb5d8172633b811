/**
 * CA failover time: three real agents with real etcd on loopback addresses
 * (127.0.82.0/24, the `process` service manager), formed once; then, ROUNDS
 * times: kill -9 the CA holder's agent and its etcd ("its host dies") and time
 *
 *   named:  until every survivor's /status names the same new elected holder
 *           (and that one says it holds the role);
 *   signs:  until the new holder signs a member's certificate request (a
 *           survivor re-enrolls over its cluster certificate, polled).
 *
 * Then the killed node is started again, waits until it stands by, and the
 * next round kills whoever holds the role. Each round also records whether
 * the dead holder was etcd's raft leader too (then etcd's own leader election
 * and its lease extension come first). Status and signing are polled every
 * 50 ms.
 *
 * Run (root; from the repository): npm run bench:ca-failover [-- --rounds 5] [--json FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientSubjectNames, createCsr, fingerprintOf, generateToken, nodeSubjectNames } from '../src/pki/index.js';
import { CA_ROLE_TTL_SECONDS } from '../src/agent/controllers/ca-role.js';
import { NodeSet, type TestNode } from '../test/helpers/agents.js';
import { peerHttps } from '../test/helpers/peer-https.js';
import { waitFor } from '../test/helpers/wait.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, json: { type: 'string' } } });
const ROUNDS = Number(args.rounds);
const POLL_MS = 50;
const LIMIT_MS = 30_000;

interface Round {
  victim: string;
  victimWasRaftLeader: boolean;
  newHolder: string;
  namedMs: number;
  signsMs: number;
}

const set = new NodeSet({ subnet: 82, count: 3, token: generateToken(), cluster: 'cabench' });

async function holderOf(nodes: TestNode[]): Promise<TestNode | undefined> {
  const statuses = await Promise.all(nodes.map((n) => set.status(n).catch(() => undefined)));
  const names = new Set(statuses.map((s) => (s?.caHolder?.source === 'election' ? s.caHolder.name : undefined)));
  if (names.size !== 1) return undefined;
  const [name] = [...names];
  const holder = set.nodes.find((n) => n.name === name);
  if (!holder || !nodes.includes(holder)) return undefined;
  return (await set.status(holder)).caRole?.state === 'holder' ? holder : undefined;
}

async function signs(target: TestNode, member: TestNode): Promise<boolean> {
  const keyPem = readFileSync(set.pki(member, 'server.key'), 'utf8');
  const certPem = readFileSync(set.pki(member, 'server.crt'), 'utf8');
  const key = { privateKeyPem: keyPem, publicKeyPem: '' };
  const body = JSON.stringify({ nodeCsr: createCsr(key, nodeSubjectNames(member.name, [member.address])), clientCsr: createCsr(key, clientSubjectNames(member.name)) });
  const t0 = Date.now();
  const r = await peerHttps(target.address, 'POST', '/v1/enroll', body, { keyPem, certPem, fingerprint256: fingerprintOf(certPem) }).catch((e: unknown) => ({ status: 0, text: String(e) }));
  if (process.env.BENCH_DEBUG) console.log(`  ${Date.now() - t0} ms: ${r.status} ${r.text.slice(0, 160)}`);
  return r.status === 200;
}

async function main(): Promise<void> {
  const rounds: Round[] = [];
  try {
    await set.init();
    for (const n of set.nodes) set.start(n);
    await set.waitFormed(set.nodes, 120_000);
    for (let i = 0; i < ROUNDS; i++) {
      const victim = await waitFor('one elected holder everyone names, and both others standing by', async () => {
        const h = await holderOf(set.nodes);
        if (!h) return undefined;
        for (const n of set.nodes.filter((x) => x !== h)) if ((await set.status(n)).caRole?.state !== 'standby') return undefined;
        return h;
      }, { timeoutMs: 60_000, intervalMs: 200, describe: () => set.describe() });
      const before = await set.status(victim);
      const victimWasRaftLeader = before.leader?.name === victim.name;
      const survivors = set.nodes.filter((n) => n !== victim);
      const t0 = Date.now();
      victim.proc?.kill('SIGKILL');
      set.killEtcd(victim);
      const named = await waitFor('survivors to name a new holder', async () => {
        const h = await holderOf(survivors);
        return h && h !== victim ? h : undefined;
      }, { timeoutMs: LIMIT_MS, intervalMs: POLL_MS, describe: () => set.describe(survivors) });
      const namedMs = Date.now() - t0;
      const member = survivors.find((n) => n !== named)!;
      await waitFor('the new holder to sign', () => signs(named, member), { timeoutMs: LIMIT_MS, intervalMs: POLL_MS });
      const signsMs = Date.now() - t0;
      rounds.push({ victim: victim.name, victimWasRaftLeader, newHolder: named.name, namedMs, signsMs });
      console.log(`round ${i + 1}: killed ${victim.name}${victimWasRaftLeader ? ' (also etcd leader)' : ''}; ${named.name} named by all after ${namedMs} ms, signing after ${signsMs} ms`);
      set.start(victim);
      await set.waitFormed([victim], 90_000);
    }
  } finally {
    await set.cleanup();
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : Math.round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
  };
  const named = rounds.map((r) => r.namedMs);
  const signed = rounds.map((r) => r.signsMs);
  const summary = {
    leaseTtlSeconds: CA_ROLE_TTL_SECONDS,
    rounds,
    namedMs: { median: median(named), min: Math.min(...named), max: Math.max(...named) },
    signsMs: { median: median(signed), min: Math.min(...signed), max: Math.max(...signed) },
  };
  console.log(`CA failover over ${rounds.length} rounds (lease TTL ${CA_ROLE_TTL_SECONDS} s): every survivor names the new holder after median ${summary.namedMs.median} ms (min ${summary.namedMs.min}, max ${summary.namedMs.max}); it signs after median ${summary.signsMs.median} ms (min ${summary.signsMs.min}, max ${summary.signsMs.max})`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
