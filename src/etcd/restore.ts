/**
 * Restoring a snapshot into a data dir for a one-member cluster, with
 * `etcdctl snapshot restore` (etcd 3.4 has no etcdutl; the WAL and raft state
 * that a restore writes are not something to re-implement), and the ids etcd
 * will give that cluster.
 *
 * Ids, as etcd 3.4 computes them for a restore (membership.NewMember with no
 * time, RaftCluster.genID): a member id is the first 8 bytes (big-endian) of
 * SHA-1 over its sorted peer URLs and the initial-cluster token; the cluster
 * id is the same over the sorted member ids as 8-byte big-endian numbers. A
 * new token therefore gives a new member id and a new cluster id.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';

/** Member id (hex, as etcdctl prints it) of a member created by a restore or a new cluster. */
export function memberIdFor(peerUrls: string[], token: string): string {
  const b = Buffer.concat([...[...peerUrls].sort().map((u) => Buffer.from(u)), Buffer.from(token)]);
  return createHash('sha1').update(b).digest().readBigUInt64BE(0).toString(16);
}

/** Cluster id (hex) of a cluster of these members. */
export function clusterIdFor(memberIdsHex: string[]): string {
  const ids = memberIdsHex.map((h) => BigInt(`0x${h}`)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => b.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(b).digest().readBigUInt64BE(0).toString(16);
}

/** etcdctl beside the etcd binary, else on PATH; undefined when there is none. */
export async function findEtcdctl(etcdBinary: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  const candidates = [join(dirname(etcdBinary), 'etcdctl'), ...path.split(delimiter).filter(Boolean).map((d) => join(d, 'etcdctl'))];
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

export interface RestoreInput {
  etcdctl: string;
  snapshot: string;
  name: string;
  peerUrl: string;
  token: string;
  /** Must not exist yet: etcdctl creates it. */
  dataDir: string;
  /** For a bare db file without the trailing SHA-256. */
  skipHashCheck?: boolean;
  timeoutMs: number;
}

/** Runs `etcdctl snapshot restore`; throws an Error carrying the tail of etcdctl's output. */
export function etcdctlSnapshotRestore(input: RestoreInput): Promise<void> {
  const args = [
    'snapshot', 'restore', input.snapshot,
    '--name', input.name,
    '--data-dir', input.dataDir,
    '--initial-cluster', `${input.name}=${input.peerUrl}`,
    '--initial-cluster-token', input.token,
    '--initial-advertise-peer-urls', input.peerUrl,
    ...(input.skipHashCheck ? ['--skip-hash-check'] : []),
  ];
  return new Promise((resolve, reject) => {
    const proc = spawn(input.etcdctl, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    const timer = setTimeout(() => proc.kill('SIGKILL'), input.timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const last = output.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
      reject(new Error(`etcdctl snapshot restore ${signal ? `was killed (${signal}; over ${input.timeoutMs} ms?)` : `exited with code ${code}`}: ${last || 'no output'}`));
    });
  });
}
