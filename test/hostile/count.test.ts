/**
 * The catalogue's size and hygiene (issue 13: at least 200 distinct cases):
 * every surface's table is counted here, and names are unique per surface,
 * so a copied row is caught. Adding a case is one line in a *-cases.ts file.
 */
import t from 'tap';
import { CLI_CASES } from './cli-cases.js';
import { CONFIG_CASES } from './config-cases.js';
import { CSR_CASES } from './csr-cases.js';
import { DISK_CASES } from './disk-cases.js';
import { ENV_CASES } from './env-cases.js';
import { MDNS_CASES } from './mdns-cases.js';
import { PEER_CASES, TLS_GARBAGE_CASES } from './peer-api-cases.js';


const SURFACES: Record<string, readonly { name: string }[]> = {
  'config files': CONFIG_CASES,
  'environment overrides': ENV_CASES,
  'CLI arguments': CLI_CASES,
  'peer API requests': PEER_CASES,
  'TLS garbage on the peer port': TLS_GARBAGE_CASES,
  CSRs: CSR_CASES,
  'mDNS packets': MDNS_CASES,
  'files on disk': DISK_CASES,
};

t.test('the bad-input catalogue holds at least 200 distinct cases', async (t) => {
  let total = 0;
  for (const [surface, cases] of Object.entries(SURFACES)) {
    const names = cases.map((c) => c.name);
    t.equal(new Set(names).size, names.length, `${surface}: ${cases.length} cases, names unique`);
    t.ok(cases.length >= 5, `${surface} has cases`);
    total += cases.length;
  }
  t.ok(total >= 200, `${total} cases in all`);
  t.comment(`bad-input catalogue: ${total} cases over ${Object.keys(SURFACES).length} surfaces`);
});
