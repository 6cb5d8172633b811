/**
 * Reading and writing the CA key escrow record (`clusterKeys(c).caEscrow`).
 * The record is opaque here: sealing and opening are src/pki/escrow.ts's.
 */
import { withClient, type EtcdTls } from './client.js';

/** The stored record text, or undefined when there is none. A linearizable read. */
export async function readCaEscrow(endpoints: string[], tls: EtcdTls, key: string, timeoutMs: number): Promise<string | undefined> {
  return withClient(endpoints, tls, timeoutMs, async (client) => (await client.get(key).string()) ?? undefined);
}

/** Writes the record only if the key does not exist yet; says whether it wrote. */
export async function createCaEscrow(endpoints: string[], tls: EtcdTls, key: string, value: string, timeoutMs: number): Promise<boolean> {
  return withClient(endpoints, tls, timeoutMs, async (client) => {
    const res = await client.if(key, 'Create', '==', 0).then(client.put(key).value(value)).commit();
    return res.succeeded;
  });
}
