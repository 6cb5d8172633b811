/**
 * Catalogue: hostile mDNS packets, through the same steps the agent takes
 * with a packet off the wire (dns-packet decoding as multicast-dns does it,
 * then readResponse and advertOf). None may throw, none may yield a peer, and
 * each refusal carries a reason the agent logs. (The same packets on a real
 * multicast segment: test/e2e/mdns-malformed.test.ts.)
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { advertOf, readResponse } from '../../src/discovery/mdns-records.js';
import { MDNS_CASES } from './mdns-cases.js';

const dnsPacket = createRequire(import.meta.url)('dns-packet') as { decode(buf: Buffer): unknown };

t.test(`${MDNS_CASES.length} hostile mDNS packets yield no peer and never throw`, async (t) => {
  for (const c of MDNS_CASES) {
    await t.test(c.name, async (t) => {
      const reasons: string[] = [];
      let peers = 0;
      t.doesNotThrow(() => {
        let decoded: unknown;
        try {
          decoded = dnsPacket.decode(c.packet);
        } catch (err) {
          // multicast-dns reports this as a warning; the agent logs it as an undecodable packet.
          reasons.push(`undecodable: ${(err as Error).message}`);
          return;
        }
        const reading = readResponse(decoded);
        reasons.push(...reading.ignored.map((i) => i.problem));
        for (const s of reading.sightings) {
          const parsed = advertOf(s, { allowLoopback: false });
          if (parsed.ok) peers += 1;
          else reasons.push(parsed.problem);
        }
      }, 'decoding and reading never throw');
      t.equal(peers, 0, `no peer comes out of it (reasons: ${reasons.join(' | ').slice(0, 300)})`);
      if (c.says !== undefined) t.ok(reasons.some((r) => r.includes(c.says as string)), `a reason names ${JSON.stringify(c.says)}: ${reasons.join(' | ').slice(0, 300)}`);
    });
  }
});
