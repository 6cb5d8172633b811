/**
 * Cost of one certificate renewal (issue 11), in CPU milliseconds, with the
 * real code on both sides over a real mTLS connection on loopback:
 *
 *   requester: two CSRs over the keys it keeps (node + admin client), the
 *              POST /v1/renew, the answer's checks, two atomic file writes;
 *   CA holder: the peer API (TLS handshake, schema), the admission gate, both
 *              CSRs parsed and verified, the signing policy, two certificates
 *              signed (node-forge, pure JS).
 *
 * Both run in this one process (127.0.74.10 / .11, the bench's loopback
 * subnet), so the total is what a renewal costs the cluster; the holder's
 * share is measured inside its handler. The etcd read the holder does before
 * the gate (member list, nodes/* records) is stubbed: it is one small etcd
 * request, not CPU.
 *
 * Run (from the repository, after `npm run build`):
 *   npm run bench:renewal -- [--runs 30] [--json FILE]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CaRole, type CaElection } from '../src/agent/bootstrap/ca-role.js';
import { enrollWithHolder } from '../src/agent/bootstrap/enrollment.js';
import { StateStore } from '../src/agent/bootstrap/state-store.js';
import type { GateState } from '../src/agent/admission.js';
import { completeRenewal, renewRequest } from '../src/agent/certs/renew-request.js';
import type { AgentConfig } from '../src/agent/config/types.js';
import { pkiPaths } from '../src/agent/files/pki-files.js';
import { PeerClient } from '../src/agent/peer/client.js';
import { renewResponseSchema, type Candidate, type RenewResponse } from '../src/agent/peer/protocol.js';
import { PeerServer } from '../src/agent/peer/server.js';
import { ensureKey } from '../src/agent/bootstrap/enrollment.js';
import { keyIdOfPublicKey, type CertificateAuthority } from '../src/pki/index.js';
import { createPublicKey } from 'node:crypto';
import { silentLogger } from '../src/util/log.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '30' }, json: { type: 'string' } } });
const RUNS = Number(args.runs);

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))] ?? NaN;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ea-bench-renewal-'));
  const holderAddr = '127.0.74.10';
  const nodeAddr = '127.0.74.11';
  try {
    const holderPki = pkiPaths(join(dir, 'n1-pki'));
    const nodePki = pkiPaths(join(dir, 'n2-pki'));
    const idOf = async (keyFile: string): Promise<string> =>
      keyIdOfPublicKey(createPublicKey(await ensureKey(keyFile)).export({ type: 'spki', format: 'pem' }).toString());
    const member = (nodeId: string, name: string, address: string, peerApiPort: number): Candidate => ({
      nodeId, name, address, peerApiPort, etcdPeerPort: 2380, etcdClientPort: 2379,
    });
    const n1 = member(await idOf(holderPki.serverKey), 'n1', holderAddr, 2390);
    const n2 = member(await idOf(nodePki.serverKey), 'n2', nodeAddr, 2390);
    const view = [n1, n2].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
    // The CA holder is n1 here whatever the ids say: the bench drives the gate directly.
    const config = { cluster: { name: 'bench' }, pki: { certValidityMs: 365 * 86_400_000, caValidityDays: 3650, expiryWarningMs: 0 } } as unknown as AgentConfig;
    const store = new StateStore(join(dir, 'n1-state'));
    await store.init();
    const members = async () => ({ names: ['n1', 'n2'], clientUrls: [], records: [n1, n2].map((c) => ({ ...c, updatedAt: '' })) });
    // The bench measures signing, not the CA-role election: this process holds the role throughout.
    let formed = false;
    let signingCa: CertificateAuthority | undefined;
    const election: CaElection = {
      currentHolder: () => n1,
      holdsRole: () => formed,
      confirm: async () => formed,
      signingCa: () => signingCa,
    };
    const enrollment = { clusterName: 'bench', initialClusterToken: 'bench-token', view, caFingerprint: '', enrolledAt: new Date().toISOString() };
    const ca = new CaRole(store, config, silentLogger(), () => undefined, election, () => ({ formed, enrollment }), members);
    const gate = (selfId: string): GateState => ({ selfId, selfName: 'n1', selfAddress: holderAddr, view, formed: false, holder: true, holderName: 'n1' });

    // Enrollment of both, in process (not measured).
    const self = (c: Candidate) => ({ nodeId: c.nodeId, name: c.name, address: c.address, clusterName: 'bench' });
    const enrolled1 = await enrollWithHolder(holderPki, self(n1), view, (_h, request) => ca.serveEnroll({ via: 'self', keyId: n1.nodeId }, gate(n1.nodeId), request));
    const enrolled2 = await enrollWithHolder(nodePki, self(n2), view, (_h, request) =>
      ca.serveEnroll({ via: 'ca', commonName: 'n2', fingerprint: '', keyId: n2.nodeId, node: true, addresses: [nodeAddr] }, gate(n1.nodeId), request),
    );
    // Formed from here on: renewals are signed by the elected holder with the CA bootstrap made.
    signingCa = await store.caMaterial();
    formed = true;

    let holderCpu = 0;
    const server = new PeerServer(
      { keyPem: enrolled1.pki.serverKeyPem, certPem: enrolled1.pki.serverCertPem, caPem: enrolled1.pki.caPem },
      {
        clusterName: 'bench',
        helloKey: Buffer.alloc(32),
        selfInfo: () => { throw new Error('not used'); },
        viewReport: () => { throw new Error('not used'); },
        admitHello: () => 'not used',
        peerAuthenticated: () => undefined,
        peerRefused: () => undefined,
        enroll: () => Promise.reject(new Error('not used')),
        join: () => Promise.reject(new Error('not used')),
        clientCertificate: () => Promise.reject(new Error('not used')),
        renew: async (caller, request) => {
          const before = process.cpuUsage();
          const answer = await ca.serveRenew(caller, { ...gate(n1.nodeId), formed: true }, request);
          holderCpu = cpuMs(process.cpuUsage(before));
          return answer;
        },
      },
      silentLogger(),
    );
    await server.listen(holderAddr, 2390);
    const client = new PeerClient({
      clusterName: 'bench',
      helloKey: Buffer.alloc(32),
      tls: () => ({ keyPem: current.serverKeyPem, certPem: current.serverCertPem, caPem: current.caPem }),
      selfInfo: () => { throw new Error('not used'); },
      localAddress: nodeAddr,
    });

    let current = enrolled2.pki;
    const rows: { totalCpuMs: number; holderCpuMs: number; requesterCpuMs: number; wallMs: number }[] = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const t0 = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      const request = renewRequest(current, 'n2', nodeAddr);
      const answer = await client.call<RenewResponse>({ key: `${holderAddr}:2390`, address: holderAddr, port: 2390 }, 'POST', '/v1/renew', request, renewResponseSchema);
      current = await completeRenewal(nodePki, current, answer);
      const total = cpuMs(process.cpuUsage(cpu0));
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      // The first two warm up the JIT and TLS session state.
      if (i >= 2) rows.push({ totalCpuMs: total, holderCpuMs: holderCpu, requesterCpuMs: total - holderCpu, wallMs: wall });
    }
    await server.close();

    const col = (k: keyof (typeof rows)[number]) => rows.map((r) => r[k]);
    const summary = Object.fromEntries(
      (['totalCpuMs', 'holderCpuMs', 'requesterCpuMs', 'wallMs'] as const).map((k) => [k, { median: +median(col(k)).toFixed(1), p90: +p90(col(k)).toFixed(1) }]),
    );
    process.stdout.write(`renewal of one node's two certificates, ${RUNS} runs (median / p90):\n`);
    for (const [k, v] of Object.entries(summary)) process.stdout.write(`  ${k.padEnd(15)} ${String(v.median).padStart(7)} / ${v.p90}\n`);
    if (args.json) writeFileSync(args.json, JSON.stringify({ runs: RUNS, summary, rows }, null, 2));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
