import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { verifySnapshot } from '../../etcd/snapshot-file.js';
import { describeError } from '../../util/errors.js';
import { sanitizeForTerminal } from '../../util/terminal.js';
import { SNAPSHOT_TIMEOUT_MS } from '../controllers/snapshots.js';
import { localClientUrl } from '../files/etcd-files.js';
import { SnapshotDir } from '../snapshots/directory.js';
import { snapshotFileName, tempSnapshotName } from '../snapshots/names.js';
import { randomSuffix, writeVerifiedSnapshot } from '../snapshots/take.js';
import { parseCommandArgs, usageError, type CliIo } from './args.js';
import { loadNodeConfig, NODE_OPTIONS, nodeAdminTls } from './node-files.js';

export const SNAPSHOT_USAGE = `usage: etcd-agent snapshot save PATH [--config PATH] [--root DIR]
       etcd-agent snapshot list [--verify] [--json] [--config PATH] [--root DIR]

save   Streams a snapshot from this node's etcd member, with the node's admin
       certificate, into PATH: written to a hidden temp file beside it, fsynced,
       verified (SHA-256 and database structure, as \`etcdctl snapshot status\`
       does), then renamed to PATH. An existing file at PATH is replaced only
       by a verified snapshot. When PATH is a directory the file is named
       <cluster>_<node>_<time>_rev<revision>.db in it. Run as root on a member.
list   Lists the snapshots in snapshots.dir (newest first): file, time,
       revision, size. --verify checks each file (slower); --json prints JSON.

  --config PATH   agent config (default /etc/etcd-agent/config.yaml, or $ETCD_AGENT_CONFIG)
  --root DIR      the node lives under DIR (as with \`etcd-agent init --root\`)

Exit codes: 0 ok, 1 the snapshot failed (or, with --verify, a file is bad), 2 bad usage.
`;

/** `etcd-agent snapshot save PATH | snapshot list`. */
export async function snapshotCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'snapshot',
    args,
    { ...NODE_OPTIONS, verify: { type: 'boolean' }, json: { type: 'boolean' } },
    2,
  );
  const [sub, path] = positionals;
  if (sub === 'save') {
    if (path === undefined) throw usageError('missing PATH: `etcd-agent snapshot save PATH`; see `etcd-agent snapshot --help`');
    if (values.verify || values.json) throw usageError('--verify and --json belong to `snapshot list`; see `etcd-agent snapshot --help`');
    return save(resolve(io.cwd, path), values, io);
  }
  if (sub === 'list') {
    if (path !== undefined) throw usageError(`unexpected argument ${JSON.stringify(path)} for \`etcd-agent snapshot list\`; see \`etcd-agent snapshot --help\``);
    return list(values, io);
  }
  throw usageError(
    sub === undefined
      ? 'missing subcommand: `etcd-agent snapshot save PATH` or `etcd-agent snapshot list`; see `etcd-agent snapshot --help`'
      : `unknown subcommand \`snapshot ${sub}\`; use save or list (see \`etcd-agent snapshot --help\`)`,
  );
}

async function save(target: string, values: { config?: string | undefined; root?: string | undefined }, io: CliIo): Promise<number> {
  const config = await loadNodeConfig(values, io);
  const tls = await nodeAdminTls(config);
  const isDir = (await stat(target).catch(() => undefined))?.isDirectory() ?? false;
  const dir = isDir ? target : dirname(target);
  const takenAt = new Date();
  const written = await writeVerifiedSnapshot(
    { endpoint: localClientUrl(config), tls, timeoutMs: SNAPSHOT_TIMEOUT_MS },
    {
      dir,
      tempName: isDir ? tempSnapshotName(randomSuffix()) : `.${basename(target)}.${randomSuffix()}.partial`,
      finalName: (info) => (isDir ? snapshotFileName(config.cluster.name, config.node.name, takenAt, info.revision) : basename(target)),
      what: 'snapshot save',
    },
  );
  const { info } = written;
  io.stdout.write(
    `saved ${written.path}: ${info.fileSize} bytes, revision ${info.revision}, ${info.totalKey} keys, hash ${info.hash} (verified: SHA-256 and database structure) in ${written.durationMs} ms\n`,
  );
  return 0;
}

interface ListedFile {
  file: string;
  path: string;
  cluster: string;
  node: string;
  takenAt: string;
  revision: number;
  sizeBytes: number;
  verified?: { ok: true; hash: number; totalKey: number } | { ok: false; error: string };
}

async function list(values: { config?: string | undefined; root?: string | undefined; verify?: boolean | undefined; json?: boolean | undefined }, io: CliIo): Promise<number> {
  const config = await loadNodeConfig(values, io);
  const files = await new SnapshotDir(config.snapshots.dir).list();
  const out: ListedFile[] = [];
  for (const f of files) {
    const row: ListedFile = { file: f.file, path: f.path, cluster: f.cluster, node: f.node, takenAt: f.takenAt.toISOString(), revision: f.revision, sizeBytes: f.sizeBytes };
    if (values.verify) {
      try {
        const info = await verifySnapshot(f.path);
        row.verified = info.revision === f.revision ? { ok: true, hash: info.hash, totalKey: info.totalKey } : { ok: false, error: `holds revision ${info.revision}, its name says ${f.revision}` };
      } catch (err) {
        row.verified = { ok: false, error: describeError(err) };
      }
    }
    out.push(row);
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ dir: config.snapshots.dir, snapshots: out }, null, 2)}\n`);
  } else if (out.length === 0) {
    io.stdout.write(`no snapshots in ${config.snapshots.dir}\n`);
  } else {
    io.stdout.write(`snapshots in ${config.snapshots.dir} (newest first)\n`);
    const header = ['FILE', 'TAKEN', 'REVISION', 'SIZE', ...(values.verify ? ['VERIFIED'] : [])];
    const rows = out.map((r) => [
      sanitizeForTerminal(r.file),
      r.takenAt,
      String(r.revision),
      String(r.sizeBytes),
      ...(r.verified ? [r.verified.ok ? 'ok' : `BAD: ${sanitizeForTerminal(r.verified.error)}`] : []),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const cells of [header, ...rows]) io.stdout.write(`${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`);
  }
  return out.some((r) => r.verified && !r.verified.ok) ? 1 : 0;
}
