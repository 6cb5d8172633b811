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
