/**
 * The account etcd.service runs as (User=/Group=) and the ownership of what
 * etcd must read or write. The agent runs as root; etcd does not.
 *
 * - The `etcd` system user/group is created when absent (Debian's etcd-server
 *   already creates it; other distributions or a bare binary may not).
 *   useradd runs through `systemd-run` as a transient unit of PID 1: the
 *   agent's own sandbox keeps /etc read-only except /etc/etcd and
 *   /etc/systemd/system, so it could not edit /etc/passwd itself — and does
 *   not need to be allowed to for this once-per-host step.
 * - etcd's data dir: 0700, owned by etcd. A data dir owned by someone else
 *   (e.g. written by the process backend, where etcd ran as root) is handed
 *   over recursively, once.
 * - etcd's private keys (ETCD_KEY_FILE, ETCD_PEER_KEY_FILE): 0600 owned by
 *   etcd. Chosen over 0640 root:etcd because the agent's atomic writer
 *   re-asserts mode 0600 on every write and DESIGN.md promises "keys 0600";
 *   etcd cannot modify the file anyway (ProtectSystem=strict makes /etc
 *   read-only for it), so owning it gives etcd nothing beyond reading it.
 *   A key the agent rewrites (renewal) is root-owned again until the next
 *   install(), which the agent calls before every (re)start.
 */
import { chmod, chown, lchown, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defineError } from '../util/errors.js';
import { runCommand, systemdWords, type CommandRunner } from './systemctl.js';

export interface ServiceAccount {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

export const SvcAccountFailed = defineError(
  'EA_SVC_ACCOUNT',
  (user: string, group: string, words: string) =>
    `cannot create the system account ${user}:${group} that etcd.service runs as (${words}); create it by hand ` +
    `(groupadd --system ${group}; useradd --system --gid ${group} --no-create-home --shell /usr/sbin/nologin ${user}) and the agent will use it.`,
);

export interface AccountOptions {
  runner?: CommandRunner;
  /** How useradd/groupadd run: as a transient unit of PID 1 (default) or directly. */
  via?: 'systemd-run' | 'direct';
  /** Home of a created user (default /var/lib/etcd, as Debian's package does). */
  home?: string;
}

/** `getent passwd|group NAME` → the numeric id, or undefined when there is no such entry. */
async function lookupId(runner: CommandRunner, database: 'passwd' | 'group', name: string): Promise<number | undefined> {
  const r = await runner('getent', [database, name], { timeoutMs: 10_000 });
  if (r.code === 2) return undefined; // getent: key not found
  if (r.code !== 0) throw new Error(`getent ${database} ${name} failed (${r.code ?? r.signal}): ${systemdWords(r.stderr)}`);
  const id = Number(r.stdout.split(':')[2]);
  if (!Number.isInteger(id)) throw new Error(`getent ${database} ${name} printed no numeric id`);
  return id;
}

/** Looks the account up, creating the group and the user when absent. */
export async function ensureServiceAccount(user: string, group: string, options: AccountOptions = {}): Promise<ServiceAccount> {
  const runner = options.runner ?? runCommand;
  const home = options.home ?? '/var/lib/etcd';
  const create = async (argv: string[]): Promise<void> => {
    const [file, args] =
      options.via === 'direct'
        ? [argv[0]!, argv.slice(1)]
        : [
            'systemd-run',
            ['--wait', '--pipe', '--quiet', '--collect', '--service-type=exec', `--description=etcd-agent: create the ${user} account`, '--', ...argv],
          ];
    const r = await runner(file, args, { timeoutMs: 30_000 });
    if (r.code !== 0) throw SvcAccountFailed(user, group, `${argv.join(' ')}: ${systemdWords(r.stderr || r.stdout) || `exit ${r.code ?? r.signal}`}`);
  };
  try {
    let gid = await lookupId(runner, 'group', group);
    if (gid === undefined) {
      await create(['/usr/sbin/groupadd', '--system', group]);
      gid = await lookupId(runner, 'group', group);
    }
    let uid = await lookupId(runner, 'passwd', user);
    if (uid === undefined) {
      await create([
        '/usr/sbin/useradd', '--system', '--gid', group, '--home-dir', home, '--no-create-home',
        '--shell', '/usr/sbin/nologin', '--comment', 'etcd (created by etcd-agent)', user,
      ]);
      uid = await lookupId(runner, 'passwd', user);
    }
    if (uid === undefined || gid === undefined) throw SvcAccountFailed(user, group, 'it is still missing after useradd/groupadd');
    return { user, group, uid, gid };
  } catch (err) {
    if ((err as { code?: string }).code === SvcAccountFailed.code) throw err;
    throw SvcAccountFailed(user, group, err instanceof Error ? err.message : String(err));
  }
}

export interface ServicePaths {
  /** Created 0700 and owned by the account. */
  dataDir: string;
  /** Private keys the service reads: made 0600 and owned by the account (missing ones are skipped). */
  secretFiles: string[];
}

/**
 * Makes the data dir and keys belong to the account. Idempotent and cheap
 * when nothing is to be done (a few stat calls); returns what it changed, in
 * words, for the log.
 */
export async function prepareServicePaths(account: ServiceAccount, paths: ServicePaths): Promise<string[]> {
  const changes: string[] = [];
  const owned = (st: { uid: number; gid: number }): boolean => st.uid === account.uid && st.gid === account.gid;
  const who = `${account.user}:${account.group}`;

  // The parent (e.g. /var/lib/etcd) is left as it is when it exists: Debian makes it etcd's own, 0700.
  await mkdir(dirname(paths.dataDir), { recursive: true, mode: 0o755 });
  try {
    await mkdir(paths.dataDir, { mode: 0o700 });
    changes.push(`created ${paths.dataDir}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await stat(paths.dataDir);
  if (!owned(st)) {
    const n = await chownTree(paths.dataDir, account.uid, account.gid);
    changes.push(`gave ${paths.dataDir} to ${who} (${n} entries)`);
  }
  if ((st.mode & 0o777) !== 0o700) {
    await chmod(paths.dataDir, 0o700);
    changes.push(`made ${paths.dataDir} 0700`);
  }
  for (const file of paths.secretFiles) {
    let fst;
    try {
      fst = await stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (!owned(fst)) {
      await chown(file, account.uid, account.gid);
      changes.push(`gave ${file} to ${who}`);
    }
    if ((fst.mode & 0o777) !== 0o600) {
      await chmod(file, 0o600);
      changes.push(`made ${file} 0600`);
    }
  }
  return changes;
}

/** lchown of a directory tree (symlinks themselves, never their targets); returns the number of entries. */
async function chownTree(path: string, uid: number, gid: number): Promise<number> {
  const st = await lstat(path);
  await lchown(path, uid, gid);
  let n = 1;
  if (st.isDirectory()) {
    for (const entry of await readdir(path)) n += await chownTree(join(path, entry), uid, gid);
  }
  return n;
}
