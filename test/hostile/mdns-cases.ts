/**
 * Hostile mDNS packets: the hand-made hostile set of test/helpers/mdns-packets.ts
 * plus one row per TXT field the agent reads, each with the text the refusal
 * reason must contain.
 */
import { randomBytes } from 'node:crypto';
import { announcement, hostilePackets, rec, response, SERVICE } from '../helpers/mdns-packets.js';

const CLUSTER = 'prod';
const id = (): string => randomBytes(16).toString('hex');
const fields = (over: Record<string, string | undefined>): string[] => {
  const f: Record<string, string | undefined> = { txtvers: '1', cluster: CLUSTER, id: id(), name: 'evil', port: '2390', addr: '10.77.0.9', ver: '0.1.0', ...over };
  return Object.entries(f).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
};
const withTxt = (instance: string, txt: (string | Buffer)[], srvPort = 2390): Buffer =>
  announcement({ instance, cluster: CLUSTER, nodeId: id(), name: instance, port: 2390, address: '10.77.0.9', txt, srvPort });

export interface MdnsCase {
  name: string;
  packet: Buffer;
  /** Text the refusal reason must contain (undefined: any reason, or nothing to read at all). */
  says?: string;
}

export const MDNS_CASES: readonly MdnsCase[] = [
  ...hostilePackets({ cluster: CLUSTER, unreachable: '10.77.0.9' })
    // An impostor that says everything right is refused later, at the hello (it cannot prove the token).
    .filter((p) => p.label !== 'valid-looking impostor where no agent listens')
    .map((p) => ({ name: p.label, packet: p.packet })),
  { name: 'TXT cluster with upper case', packet: withTxt('c1', fields({ cluster: 'PROD' })), says: 'cluster' },
  { name: 'TXT cluster missing', packet: withTxt('c2', fields({ cluster: undefined })), says: 'cluster' },
  { name: 'TXT id 31 hex digits', packet: withTxt('c3', fields({ id: 'a'.repeat(31) })), says: 'id' },
  { name: 'TXT id not hex', packet: withTxt('c4', fields({ id: 'z'.repeat(32) })), says: 'id' },
  { name: 'TXT id missing', packet: withTxt('c5', fields({ id: undefined })), says: 'id' },
  { name: 'TXT name with a space', packet: withTxt('c6', fields({ name: 'a b' })), says: 'name' },
  { name: 'TXT name with an escape sequence', packet: withTxt('c7', fields({ name: '\u001b[2J' })), says: 'name' },
  { name: 'TXT name of 200 characters', packet: withTxt('c8', fields({ name: 'n'.repeat(200) })), says: 'name' },
  { name: 'TXT port 0', packet: withTxt('c9', fields({ port: '0' }), 0), says: 'port' },
  { name: 'TXT port text', packet: withTxt('c10', fields({ port: 'https' })), says: 'port' },
  { name: 'TXT port with a sign', packet: withTxt('c11', fields({ port: '+2390' })), says: 'port' },
  { name: 'TXT layout version 2', packet: withTxt('c12', fields({ txtvers: '2' })), says: 'version' },
  { name: 'TXT key twice', packet: withTxt('c13', [...fields({}), 'id=' + id()]), says: 'twice' },
  { name: 'TXT key not ASCII', packet: withTxt('c14', [...fields({}), 'ключ=1']), says: 'ASCII' },
  { name: 'TXT 33 strings', packet: withTxt('c15', [...fields({}), ...Array.from({ length: 26 }, (_, i) => `x${i}=1`)]), says: '33' },
  { name: 'TXT string that is not UTF-8', packet: withTxt('c16', [...fields({}), Buffer.from([0x61, 0x3d, 0xc3, 0x28])]), says: 'UTF-8' },
  { name: 'TXT address 0.0.0.0', packet: withTxt('c17', fields({ addr: '0.0.0.0' })), says: 'TXT' },
  { name: 'TXT address broadcast', packet: withTxt('c18', fields({ addr: '255.255.255.255' })), says: 'TXT' },
  // Regression: both were accepted as peer addresses before this catalogue.
  { name: 'TXT address link-local IPv6 with zone', packet: withTxt('c19', fields({ addr: 'fe80::1%eth0' })), says: 'zone id' },
  { name: 'TXT address link-local IPv4', packet: withTxt('c19b', fields({ addr: '169.254.10.1' })), says: 'link-local' },
  { name: 'TXT address with a port', packet: withTxt('c20', fields({ addr: '10.77.0.9:2390' })), says: 'TXT' },
  { name: 'TXT address missing', packet: withTxt('c21', fields({ addr: undefined })), says: 'addr' },
  { name: 'TXT version with control characters', packet: withTxt('c22', fields({ ver: '1.0\u0007' })), says: 'ver' },
  { name: 'TXT empty', packet: withTxt('c23', []), says: 'txtvers' },
  { name: 'SRV only, no TXT', packet: response([rec.ptr(SERVICE, `c24.${SERVICE}`), rec.srv(`c24.${SERVICE}`, 2390, 'c24.local')]), says: 'no TXT' },
  { name: 'TXT only, no SRV', packet: response([rec.ptr(SERVICE, `c25.${SERVICE}`), rec.txt(`c25.${SERVICE}`, fields({}))]), says: 'no SRV' },
  { name: 'empty packet', packet: Buffer.alloc(0) },
  { name: 'header only, no records', packet: response([]) },
];

