import { resolve } from 'node:path';
import type { EtcdTls } from '../../etcd/client.js';
import { AgentError } from '../../util/errors.js';
import { loadConfig, type AgentConfig, type LoadConfigOptions } from '../config/index.js';
import { adminTlsOf, pkiPaths, readNodePki } from '../files/pki-files.js';
import type { CliIo } from './args.js';

/** `--config PATH` and `--root DIR`, as `run` takes them: how a day-2 command finds the node's files. */
export const NODE_OPTIONS = { config: { type: 'string' }, root: { type: 'string' } } as const;

export async function loadNodeConfig(values: { config?: string | undefined; root?: string | undefined }, io: CliIo): Promise<AgentConfig> {
  const options: LoadConfigOptions = { env: io.env };
  if (values.config !== undefined) options.path = resolve(io.cwd, values.config);
  if (values.root !== undefined) options.root = resolve(io.cwd, values.root);
  return loadConfig(options);
}

/** The node's local admin client certificate (etcdctl.crt/.key) and CA, for its own etcd. */
export async function nodeAdminTls(config: AgentConfig): Promise<EtcdTls> {
  const paths = pkiPaths(config.paths.pkiDir);
  let pki;
  try {
    pki = await readNodePki(paths);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new AgentError('EA_ADMIN_CERT_UNAVAILABLE', `cannot read this node's admin certificate and key in ${paths.dir} (permission denied); run this command as root`);
    }
    throw err;
  }
  if (!pki) {
    throw new AgentError(
      'EA_ADMIN_CERT_UNAVAILABLE',
      `this node has no complete set of certificates in ${paths.dir} (ca.crt, etcdctl.crt, etcdctl.key): it has not enrolled in a cluster yet, or --config/--root point at another node`,
    );
  }
  return adminTlsOf(pki);
}
