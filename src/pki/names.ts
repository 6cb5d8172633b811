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
