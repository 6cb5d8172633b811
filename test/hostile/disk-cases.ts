/**
 * Hostile files on disk: a formed node's state, keys and certificates,
 * truncated, emptied, replaced by garbage or by valid JSON of the wrong
 * shape. `file` is relative to the node root; `content` replaces it
 * (`undefined` removes it). The agent must refuse with a message naming the
 * file (and exit, or keep running and say so in /status), never rewrite the
 * damaged file, and never bootstrap anew. (The CA holder's holder.json, ca.key
 * and ca.crt are read only when it signs; the CSR catalogue and
 * test/unit/crash-recovery.test.ts cover them.)
 */
export interface DiskCase {
  name: string;
  file: string;
  content: string | undefined | ((old: string) => string);
  /** Text the refusal must contain (default: the file's base name). */
  says?: string;
}

const STATE = 'var/lib/etcd-agent';
const PKI = 'etc/etcd/pki';
const half = (old: string): string => old.slice(0, Math.floor(old.length / 2));

export const DISK_CASES: readonly DiskCase[] = [
  { name: 'identity.json truncated', file: `${STATE}/identity.json`, content: half },
  { name: 'identity.json with a node id that is not hex', file: `${STATE}/identity.json`, content: '{"nodeId":"zz","createdAt":"x"}\n' },
  { name: 'identity.json a JSON array', file: `${STATE}/identity.json`, content: '[1,2,3]\n' },
  { name: 'view.json truncated', file: `${STATE}/view.json`, content: half },
  { name: 'view.json empty', file: `${STATE}/view.json`, content: '' },
  { name: 'view.json of the wrong shape', file: `${STATE}/view.json`, content: '{"clusterName":"itest","view":"everyone"}\n' },
  { name: 'enrollment.json truncated', file: `${STATE}/enrollment.json`, content: half },
  { name: 'enrollment.json JSON null', file: `${STATE}/enrollment.json`, content: 'null\n' },
  { name: 'enrollment.json with a token that would break etcd.conf', file: `${STATE}/enrollment.json`, content: (old) => old.replace(/"initialClusterToken": "[^"]*"/, '"initialClusterToken": "x\\nETCD_NAME=evil"') },
  { name: 'formed.json truncated', file: `${STATE}/formed.json`, content: half },
  { name: 'formed.json a number', file: `${STATE}/formed.json`, content: '42\n' },
  { name: 'server.key truncated', file: `${PKI}/server.key`, content: half },
  { name: 'server.crt garbage', file: `${PKI}/server.crt`, content: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' },
  { name: 'server.crt empty', file: `${PKI}/server.crt`, content: '' },
  { name: 'ca.crt in the pki dir truncated', file: `${PKI}/ca.crt`, content: half },
  { name: 'etcdctl.key emptied', file: `${PKI}/etcdctl.key`, content: '' },
  { name: 'etcdctl.crt replaced by the CA certificate', file: `${PKI}/etcdctl.crt`, content: (old) => old, says: 'etcdctl' },
];
