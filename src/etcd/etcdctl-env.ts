/**
 * `/etc/etcd/etcdctl.env`: what an operator sources to run etcdctl against
 * this node as the local admin client. Pure renderer.
 */
import { isAbsolute } from 'node:path';
import { EtcdConfInvalid } from './errors.js';
import { checkValue, formatEnvLine } from './env-file.js';

export interface EtcdctlEnvInput {
  endpoints: string[];
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Where the file will live, for the usage line in its header (default /etc/etcd/etcdctl.env). */
  path?: string;
  /** First header line (default: the local admin client's, which the agent rewrites). */
  title?: string;
}

export const DEFAULT_ETCDCTL_ENV_PATH = '/etc/etcd/etcdctl.env';

export function renderEtcdctlEnv(input: EtcdctlEnvInput): string {
  if (!Array.isArray(input.endpoints) || input.endpoints.length === 0) {
    throw EtcdConfInvalid('endpoints', 'is empty; give at least one https:// client URL');
  }
  input.endpoints.forEach((e, i) => {
    const field = `endpoints[${i}]`;
    checkValue(field, e);
    if (!/^https:\/\/[^\s,]+$/.test(e)) throw EtcdConfInvalid(field, `(${e}) must be an https:// URL without blanks or commas`);
  });
  for (const field of ['caFile', 'certFile', 'keyFile'] as const) {
    const value = input[field];
    if (typeof value !== 'string' || value === '') throw EtcdConfInvalid(field, 'is empty; give an absolute path');
    checkValue(field, value);
    if (!isAbsolute(value)) throw EtcdConfInvalid(field, `(${value}) is not an absolute path`);
  }
  const path = input.path ?? DEFAULT_ETCDCTL_ENV_PATH;
  checkValue('path', path);
  if (input.title !== undefined) checkValue('title', input.title);
  const sourced = /\s/.test(path) ? `"${path}"` : path;
  return [
    `# ${input.title ?? 'etcdctl settings for the local admin client, written by etcd-agent. It will be overwritten: do not edit.'}`,
    '# Use from a shell:',
    `#   set -a; . ${sourced}; set +a; etcdctl endpoint health --cluster`,
    formatEnvLine('ETCDCTL_API', '3'),
    formatEnvLine('ETCDCTL_ENDPOINTS', input.endpoints.join(',')),
    formatEnvLine('ETCDCTL_CACERT', input.caFile),
    formatEnvLine('ETCDCTL_CERT', input.certFile),
    formatEnvLine('ETCDCTL_KEY', input.keyFile),
    '',
  ].join('\n');
}
