/**
 * Issue 9.1 regression: holding the join token must not let an agent be
 * someone else. Three real agents agree on their initial members; one of them
 * runs an "etcd" that never serves, so the cluster cannot form and enrollment
 * with the token stays open. A rogue with the token and its own key then
 * claims an initial member's id, name or address: every hello is refused with
 * EA_PEER_IDENTITY, it can never reach /v1/enroll, and the CA holder signs
 * nothing for it.
 */
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerClient } from '../../src/agent/peer/client.js';
import { enrollResponseSchema, PROTOCOL_VERSION, type PeerInfo } from '../../src/agent/peer/protocol.js';
import { clientSubjectNames, createCsr, createEphemeralIdentity, deriveHelloKey, generateKeyPair, generateToken, keyIdOfPublicKey, nodeSubjectNames } from '../../src/pki/index.js';
import { NodeSet } from '../helpers/agents.js';
import { waitFor } from '../helpers/wait.js';

const token = generateToken();
const cluster = 'imposter';
const set = new NodeSet({ subnet: 46, count: 3, size: 3, token, cluster });
let scratch = '';
t.teardown(async () => {
  await set.cleanup(process.env.KEEP_TEST_DIRS === '1');
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

t.test('a token holder cannot claim an initial member\'s identity', async (t) => {
  scratch = await mkdtemp(join(tmpdir(), 'ea-imposter-'));
  // An "etcd" that runs but never serves: n3 never becomes healthy, so the cluster never forms.
  const mute = join(scratch, 'mute-etcd');
  await writeFile(mute, '#!/bin/sh\nexec sleep 600\n');
  await chmod(mute, 0o755);
  await set.init((n) => (n.name === 'n3' ? ['--etcd-binary', mute] : []));
  for (const n of set.nodes) set.start(n);

  // Wait until the view is committed and the holder has enrolled at least one other node.
  let holderName = '';
  await waitFor(
    'initial members agreed and enrollment under way',
    async () => {
      const s = await set.status(set.nodes[0]!);
      if (!s.caHolder || s.initialMembers.length !== 3) return false;
      holderName = s.caHolder.name;
      return s.phase === 'forming' || s.phase === 'starting-etcd';
    },
    { timeoutMs: 60_000, intervalMs: 300, describe: () => set.describe() },
  );
  const holder = set.nodes.find((n) => n.name === holderName)!;
  const status = await set.status(holder);
  t.equal(status.cluster.state, 'forming', 'the cluster has not formed: enrollment with the token is open');
  const victim = status.initialMembers.find((m) => m.name !== holderName)!;
  const endpoint = { key: `${holder.address}:2390`, address: holder.address, port: 2390 };

  const rogueKey = await generateKeyPair();
  const rogueTls = await createEphemeralIdentity('rogue', rogueKey.privateKeyPem);
  const rogueId = keyIdOfPublicKey(rogueKey.publicKeyPem);
  const base: PeerInfo = {
    protocol: PROTOCOL_VERSION,
    clusterName: cluster,
    nodeId: rogueId,
    name: 'rogue',
    address: '127.0.46.99',
    peerApiPort: 2390,
    etcdPeerPort: 2380,
    etcdClientPort: 2379,
    version: 'rogue',
    stage: 'fresh',
  };
  const claims: [string, Partial<PeerInfo>, RegExp][] = [
    ['the victim\'s node id, name and address', { nodeId: victim.nodeId, name: victim.name, address: victim.address }, /not the id of the key/],
    ['the victim\'s node id only', { nodeId: victim.nodeId }, /not the id of the key/],
    ['its own key but the victim\'s name', { name: victim.name }, /belongs to initial member/],
    ['its own key but the victim\'s address', { address: victim.address }, /belongs to initial member/],
    ['the holder\'s own name', { name: holderName }, /this node's name|belongs to initial member/],
    ['an unspecified address', { address: '0.0.0.0' }, /not a unicast address/],
    ['a multicast address', { address: '224.0.0.251' }, /not a unicast address/],
  ];
  for (const [what, claim, reason] of claims) {
    const rogue = new PeerClient({
      clusterName: cluster,
      helloKey: deriveHelloKey(token, cluster),
      tls: () => ({ keyPem: rogueTls.keyPem, certPem: rogueTls.certPem }),
      selfInfo: () => ({ ...base, ...claim }),
      timeoutMs: 5000,
    });
    const err = await rogue.hello(endpoint).then(
      () => undefined,
      (e: unknown) => e as Error & { peerCode?: string },
    );
    t.ok(err, `claiming ${what}: hello refused`);
    t.equal(err?.peerCode, 'EA_PEER_IDENTITY', `claiming ${what}: EA_PEER_IDENTITY`);
    t.match(err?.message ?? '', reason, `claiming ${what}: the reason names the conflict`);

    // Without a session there is no enrollment, whatever the CSR says.
    const csrKey = await generateKeyPair();
    const enroll = await rogue
      .call(endpoint, 'POST', '/v1/enroll', {
        nodeCsr: createCsr(csrKey, nodeSubjectNames(victim.name, [victim.address])),
        clientCsr: createCsr(csrKey, clientSubjectNames(victim.name)),
      }, enrollResponseSchema)
      .then(
        () => 'signed',
        (e: unknown) => (e as { peerCode?: string }).peerCode ?? String(e),
      );
    t.not(enroll, 'signed', `claiming ${what}: no certificate`);
  }

  const after = await set.status(holder);
  t.ok(after.refusals.some((r) => /EA_PEER_IDENTITY|not the id of the key|belongs to initial member/.test(r.reason)), 'the holder records the refusals');
  t.equal(after.initialMembers.length, 3, 'the initial members are unchanged');
  t.notOk(after.peers.some((p) => p.name === 'rogue' || p.nodeId === rogueId), 'the rogue is not an authenticated peer');
});
