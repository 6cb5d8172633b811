import { isIPv6 } from 'node:net';
import { renderEtcdConf, type EtcdConfInput } from '../../etcd/conf.js';
import { renderEtcdctlEnv } from '../../etcd/etcdctl-env.js';
import { writeFileAtomic, type WriteMemo } from '../../util/atomic-write.js';
import type { AgentConfig } from '../config/types.js';
import type { JoinAdmission, View } from '../peer/protocol.js';
import type { PkiPaths } from './pki-files.js';

export function hostForUrl(address: string): string {
  return isIPv6(address) ? `[${address}]` : address;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

export function clientUrl(address: string, port: number): string {
  return `https://${hostForUrl(address)}:${port}`;
}

/** The URL the agent's own etcd client and etcdctl use for this node. */
export function localClientUrl(config: AgentConfig): string {
  return clientUrl(config.node.advertiseAddress, config.etcd.clientPort);
}

/** What etcd.conf is written from: the agreed view, or for a node that joined later its admission. */
export interface ClusterShape {
  view: View;
  initialClusterToken: string;
  joined?: JoinAdmission;
}

/** Pure: what etcd.conf says for this node, from the config and the agreed view (or its admission). */
export function etcdConfInput(
  config: AgentConfig,
  enrollment: ClusterShape,
  state: 'new' | 'existing',
  pki: PkiPaths,
): EtcdConfInput {
  const address = config.node.advertiseAddress;
  const own = clientUrl(address, config.etcd.clientPort);
  // On a real host etcdctl on the node also reaches etcd at 127.0.0.1; on a
  // loopback demo address that port belongs to the other agents' address space.
  const listenClient = isLoopback(address) ? [own] : [own, clientUrl('127.0.0.1', config.etcd.clientPort)];
  const peer = clientUrl(address, config.etcd.peerPort);
  return {
    name: config.node.name,
    dataDir: config.etcd.dataDir,
    listenClientUrls: listenClient,
    advertiseClientUrls: [own],
    listenPeerUrls: [peer],
    initialAdvertisePeerUrls: [peer],
    // A joiner's etcd must be told every current member (etcd checks the list against the cluster's).
    initialCluster: enrollment.joined
      ? enrollment.joined.initialCluster.map((m) => ({ name: m.name, peerUrl: m.peerUrl }))
      : enrollment.view.map((m) => ({ name: m.name, peerUrl: clientUrl(m.address, m.etcdPeerPort) })),
    initialClusterToken: enrollment.initialClusterToken,
    initialClusterState: state,
    tls: { caFile: pki.caCert, certFile: pki.serverCert, keyFile: pki.serverKey },
    extraEnv: config.etcd.extraEnv,
  };
}

/**
 * Writes etcd.conf and etcdctl.env; returns whether etcd.conf changed. `memo`
 * (a caller that writes them every tick): files unchanged since they were
 * last found right are not read again (see WriteOptions.memo).
 */
export async function writeEtcdFiles(
  config: AgentConfig,
  enrollment: ClusterShape,
  state: 'new' | 'existing',
  pki: PkiPaths,
  memo?: WriteMemo,
): Promise<boolean> {
  const conf = renderEtcdConf(etcdConfInput(config, enrollment, state, pki));
  const changed = await writeFileAtomic(config.paths.confFile, conf, { mode: 0o644, ...(memo ? { memo } : {}) });
  const env = renderEtcdctlEnv({
    endpoints: enrollment.joined
      ? [localClientUrl(config), ...enrollment.joined.clientUrls.filter((u) => u !== localClientUrl(config))]
      : enrollment.view.map((m) => clientUrl(m.address, m.etcdClientPort)),
    caFile: pki.caCert,
    certFile: pki.clientCert,
    keyFile: pki.clientKey,
    path: config.paths.etcdctlEnvFile,
  });
  await writeFileAtomic(config.paths.etcdctlEnvFile, env, { mode: 0o644, ...(memo ? { memo } : {}) });
  return changed;
}
