import { defineError } from '../util/errors.js';

/**
 * mDNS problems never stop the agent (seeds may still work), so these errors
 * end up as sentences in /status `discovery.problems` and in the waiting
 * reason. Each names where mDNS runs and what the operator can do.
 */

/** The mDNS interface could not be chosen or has no IPv4 address to run on. */
export const MdnsNoInterface = defineError(
  'EA_MDNS_NO_INTERFACE',
  (what: string) => `mDNS is on but ${what}; set discovery.mdnsInterface (--mdns-interface) or configure seeds`,
);

/** The UDP socket on port 5353 could not be opened (another responder holds it exclusively, or no permission). */
export const MdnsSocketFailed = defineError(
  'EA_MDNS_SOCKET',
  (where: string, reason: string) =>
    `mDNS cannot listen on ${where}: ${reason}; the agent retries every 30 s — free UDP port 5353 (another mDNS responder without SO_REUSEADDR?) or configure seeds`,
);

/** Sending to the mDNS group failed: the packets never leave this host. */
export const MdnsSendFailed = defineError(
  'EA_MDNS_SEND',
  (where: string, reason: string, iface: string) =>
    `mDNS cannot send on ${where}: ${reason} — multicast is blocked (firewall) or there is no route for 224.0.0.0/4 (ip route add 224.0.0.0/4 dev ${iface}); configure seeds`,
);

/** The socket could not join the mDNS multicast group, so it hears nothing. */
export const MdnsGroupFailed = defineError(
  'EA_MDNS_GROUP',
  (where: string, reason: string) => `mDNS cannot join the multicast group 224.0.0.251 on ${where}: ${reason}; configure seeds`,
);

/** Nothing from any other host was heard: multicast does not reach this host. */
export const MdnsSilent = defineError(
  'EA_MDNS_SILENT',
  (where: string, seconds: number) => `no mDNS answers on ${where} for ${seconds} s — multicast may be blocked; configure seeds`,
);

/** Other hosts answer, but no agent of our cluster does. */
export const MdnsNoClusterPeers = defineError(
  'EA_MDNS_NO_CLUSTER_PEERS',
  (where: string, cluster: string, seconds: number) =>
    `mDNS on ${where} hears other hosts but no etcd-agent of cluster "${cluster}" for ${seconds} s — check that every node uses the same cluster name and is running, or configure seeds`,
);
