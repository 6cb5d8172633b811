import { BlockList } from 'node:net';

/** 127.0.0.0/8 and ::1. Shared by config validation and mDNS record checks. */
export const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Addresses a peer can never be reached at: unspecified, broadcast, multicast. */
export const NOT_UNICAST = new BlockList();
NOT_UNICAST.addAddress('0.0.0.0', 'ipv4');
NOT_UNICAST.addAddress('255.255.255.255', 'ipv4');
NOT_UNICAST.addSubnet('224.0.0.0', 4, 'ipv4');
NOT_UNICAST.addAddress('::', 'ipv6');
NOT_UNICAST.addSubnet('ff00::', 8, 'ipv6');

/**
 * Link-local: 169.254.0.0/16 and fe80::/10. Such an address means something
 * only together with an interface (an IPv6 one needs a zone id, which neither
 * a certificate nor etcd's URLs can carry), so a node cannot advertise one.
 */
export const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
