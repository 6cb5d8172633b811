import { resolve } from 'node:path';
import { endpointHealthy, listMembers, type EtcdTls } from '../../etcd/client.js';
import { appendOp, readRecords, withMembershipLock, writeSize } from '../../etcd/records.js';
import { readFileIfExists } from '../../util/atomic-write.js';
import { defineError } from '../../util/errors.js';
import { loadConfigDetailed, type AgentConfig, type LoadConfigOptions } from '../config/index.js';
import { resizeRefusal } from '../controllers/membership-plan.js';
import { localClientUrl } from '../files/etcd-files.js';
import { pkiPaths } from '../files/pki-files.js';
import { parseCommandArgs, usageError, type CliIo } from './args.js';

export const CLUSTER_USAGE = `usage: etcd-agent cluster resize N [--config PATH] [--root DIR]

Sets the wanted number of voting members of the cluster (the \`size\` record
in etcd under /etcd-agent/<cluster>/). Run it on a member, as root: it uses the
node's local admin certificate (etcdctl.crt) and its etcd.

  N must be at least 1, and at least a majority (quorum) of the voters that
  are healthy right now: with 5 healthy voters the smallest N is 3, with 3 it
  is 2. It is refused while the healthy voters are not a quorum of all voters.

Growing: joiners waiting as spares (or started later) are added one at a time
as learners and promoted. Shrinking: voters above N are removed one at a time
(never this node's own member, the leader or the CA holder; unhealthy first).
A joining agent's own \`cluster.size\` never changes the wanted size.

  --config PATH   agent config (default /etc/etcd-agent/config.yaml, or $ETCD_AGENT_CONFIG)
  --root DIR      the node lives under DIR (as with \`etcd-agent init --root\`)
`;

export const ResizeRefused = defineError('EA_RESIZE_REFUSED', (why: string) => `cluster resize refused: ${why}; nothing was changed`);
export const MembershipLocked = defineError(
  'EA_MEMBERSHIP_LOCKED',
  (holder: string, seconds: number) => `the membership lock is held by ${holder}, still after ${seconds} s: another member is changing membership; run the command again shortly`,
);
export const NotAMember = defineError(
  'EA_CLI_NOT_MEMBER',
  (what: string, dir: string) => `${what} needs this node's admin certificate (etcdctl.crt, etcdctl.key and ca.crt in ${dir}), which is not there: run it on a member of the formed cluster, with the same --config/--root as the agent`,
);

const TIMEOUT_MS = 3000;
const LOCK_WAIT_MS = 15_000;
/** Same bound as the config's cluster.size. */
const MAX_SIZE = 9;

/** `etcd-agent cluster resize N`. */
export async function clusterCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('cluster', args, { config: { type: 'string' }, root: { type: 'string' } }, 2);
  const [sub, value] = positionals;
  if (sub !== 'resize') throw usageError(sub === undefined ? 'give a subcommand: `etcd-agent cluster resize N`' : `unknown subcommand "${sub}" of \`etcd-agent cluster\`; see \`etcd-agent cluster --help\``);
  if (value === undefined) throw usageError('give the wanted number of voting members: `etcd-agent cluster resize N`');
  if (!/^-?\d{1,3}$/.test(value)) throw usageError(`N must be a whole number from 1 to ${MAX_SIZE}, not ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n > MAX_SIZE) throw usageError(`N is ${n}; at most ${MAX_SIZE} voting members are supported (as for cluster.size)`);
  if (n < 1) throw usageError(`${resizeRefusal(n, 1, 1) ?? 'N must be at least 1'}; see \`etcd-agent cluster --help\``);

  const options: LoadConfigOptions = { env: io.env };
  if (values.config !== undefined) options.path = resolve(io.cwd, values.config);
  if (values.root !== undefined) options.root = resolve(io.cwd, values.root);
  const { config } = await loadConfigDetailed(options);
  const tls = await adminTls(config);
  const outcome = await resize(config, tls, n);
  io.stdout.write(`${outcome}\n`);
  return 0;
}

async function adminTls(config: AgentConfig): Promise<EtcdTls> {
  const paths = pkiPaths(config.paths.pkiDir);
  const [caPem, certPem, keyPem] = await Promise.all([paths.caCert, paths.clientCert, paths.clientKey].map(readFileIfExists));
  if (!caPem || !certPem || !keyPem) throw NotAMember('cluster resize', paths.dir);
  return { caPem, certPem, keyPem };
}

/** Checks the rule against the cluster as it is now, then writes the size under the membership lock. */
async function resize(config: AgentConfig, tls: EtcdTls, n: number): Promise<string> {
  const local = localClientUrl(config);
  const cluster = config.cluster.name;
  const target = { endpoints: [local], tls, timeoutMs: TIMEOUT_MS };
  const { members } = await listMembers([local], tls, TIMEOUT_MS);
  const voters = members.filter((m) => !m.isLearner);
  const health = await Promise.all(voters.map((m) => (m.clientUrls[0] ? endpointHealthy(m.clientUrls[0], tls, TIMEOUT_MS) : Promise.resolve({ healthy: false }))));
  const healthy = health.filter((h) => h.healthy).length;
  const refusal = resizeRefusal(n, voters.length, healthy);
  if (refusal) throw ResizeRefused(refusal);

  const by = config.node.name;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const got = await withMembershipLock({ endpoints: [local], tls, timeoutMs: 10_000 }, cluster, `${by} (cluster resize)`, 20, async () => {
      const before = (await readRecords(target, cluster)).size;
      if (before === n) return `the wanted size is already ${n}; nothing changed (${voters.length} voters, ${healthy} healthy)`;
      await writeSize(target, cluster, n);
      const reason = `operator ran cluster resize on ${by}: ${before ?? '(unset)'} -> ${n} (${healthy} of ${voters.length} voters healthy)`;
      await appendOp(target, cluster, { op: 'resize', target: String(n), reason, result: 'ok', at: new Date().toISOString(), by });
      const next = n > voters.length ? `joiners are added one at a time until there are ${n} voters` : n < voters.length ? `voters above ${n} are removed one at a time` : 'the voters already match';
      return `wanted size: ${before ?? '(unset)'} -> ${n}; ${next} (etcd-agent status shows progress)`;
    });
    if (got.acquired && got.value !== undefined) return got.value;
    if (Date.now() > deadline) throw MembershipLocked(got.holder ?? 'another member', LOCK_WAIT_MS / 1000);
    await new Promise((r) => setTimeout(r, 500));
  }
}
