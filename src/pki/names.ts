import { canonicalIp } from './ip.js';
import { AddressInvalidError, NameInvalidError } from './errors.js';

export interface SubjectNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

const LOOPBACK_IPS = ['127.0.0.1', '::1'];

/** The names a node asks for: local tools reach etcd via localhost/loopback. */
export function nodeSubjectNames(name: string, addresses: string[]): SubjectNames {
  checkName(name);
  const ips = addresses.map((address) => {
    const ip = canonicalIp(address);
    if (ip === undefined) throw AddressInvalidError(address);
    return ip;
  });
  return {
    commonName: name,
    dnsNames: unique([name, 'localhost']),
    ipAddresses: unique([...ips, ...LOOPBACK_IPS]),
  };
}

/** etcd maps a client certificate's CN to a user, so the CN carries the node. */
export function clientSubjectNames(nodeName: string): SubjectNames {
  checkName(nodeName);
  return { commonName: `etcdctl@${nodeName}`, dnsNames: [], ipAddresses: [] };
}

/**
 * A consumer's client certificate (`etcd-agent cert issue --name NAME`): CN =
 * NAME, no SANs. NAME also names the files written for it, so it must be a
 * safe file name as well as a CN: letters, digits, '.', '_', '-', starting
 * with a letter or digit, at most 64 characters.
 */
export function consumerSubjectNames(name: string): SubjectNames {
  const problem = consumerNameProblem(name);
  if (problem) throw NameInvalidError(name, problem);
  return { commonName: name, dnsNames: [], ipAddresses: [] };
}

/** Why `name` cannot be a consumer certificate's name (and file name), or undefined when it can. */
export function consumerNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > 64) return 'it is longer than 64 characters';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    return 'it must start with a letter or digit and contain only letters, digits, ".", "_" and "-" (it names files and the certificate\'s CN)';
  }
  return undefined;
}

export function loopbackIps(): string[] {
  return [...LOOPBACK_IPS];
}

function checkName(name: string): void {
  if (name.length === 0) throw NameInvalidError(name, 'it is empty');
  if (name.length > 253) throw NameInvalidError(name, 'it is longer than 253 characters');
  if (!/^[\x21-\x7e]+$/.test(name)) throw NameInvalidError(name, 'it contains spaces or non-ASCII characters');
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
