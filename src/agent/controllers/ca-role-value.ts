/**
 * The value a CA-role candidate puts in the election: its Candidate as JSON
 * (what a joiner needs to reach it: node id, name, address, ports). Read
 * back from etcd, where any client with a certificate could have written
 * something else, so it is checked field by field like a peer's message.
 */
import type { Candidate } from '../peer/protocol.js';

export function electionValue(self: Candidate): string {
  const { nodeId, name, address, peerApiPort, etcdPeerPort, etcdClientPort } = self;
  return JSON.stringify({ nodeId, name, address, peerApiPort, etcdPeerPort, etcdClientPort });
}

const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** The candidate in an election value, or undefined when it is not one. */
export function candidateFromValue(value: string): Candidate | undefined {
  if (value.length > 1024) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const v = parsed as Record<string, unknown>;
  const keys = Object.keys(v).sort().join(',');
  if (keys !== 'address,etcdClientPort,etcdPeerPort,name,nodeId,peerApiPort') return undefined;
  if (typeof v.nodeId !== 'string' || !/^[0-9a-f]{32}$/.test(v.nodeId)) return undefined;
  if (typeof v.name !== 'string' || !/^[A-Za-z0-9._-]{1,63}$/.test(v.name)) return undefined;
  if (typeof v.address !== 'string' || !/^[0-9a-fA-F.:]{2,64}$/.test(v.address)) return undefined;
  if (!isPort(v.peerApiPort) || !isPort(v.etcdPeerPort) || !isPort(v.etcdClientPort)) return undefined;
  return { nodeId: v.nodeId, name: v.name, address: v.address, peerApiPort: v.peerApiPort, etcdPeerPort: v.etcdPeerPort, etcdClientPort: v.etcdClientPort };
}
