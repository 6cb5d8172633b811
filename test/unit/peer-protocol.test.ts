/** Every string a peer sends is bounded and free of control characters at the schema. */
import t from 'tap';
import { Ajv } from 'ajv';
import {
  PROTOCOL_VERSION,
  enrollResponseSchema,
  helloFinishSchema,
  helloStartResponseSchema,
  helloStartSchema,
  peerInfoSchema,
  type PeerInfo,
} from '../../src/agent/peer/protocol.js';
import * as protocol from '../../src/agent/peer/protocol.js';
import { newNonce } from '../../src/pki/index.js';

const ajv = new Ajv({ strict: false });
const valid = (schema: object, value: unknown): boolean => ajv.validate(schema, value);
const ESC = '\u001b';

const info: PeerInfo = {
  protocol: PROTOCOL_VERSION,
  clusterName: 'prod-eu-1',
  nodeId: 'a'.repeat(32),
  name: 'node-1.example',
  address: '10.0.0.11',
  peerApiPort: 2390,
  etcdPeerPort: 2380,
  etcdClientPort: 2379,
  version: '0.1.0',
  stage: 'fresh',
};

t.test('what agents send is accepted', async (t) => {
  t.ok(valid(peerInfoSchema, info));
  for (const version of ['0.1.0', '1.2.3-rc.1+build.5', 'unknown']) t.ok(valid(peerInfoSchema, { ...info, version }), version);
  t.ok(valid(helloStartSchema, { clusterName: 'prod', clientNonce: newNonce() }));
  t.ok(valid(helloFinishSchema, { serverNonce: newNonce(), proof: 'A'.repeat(43), info }));
  t.ok(valid(helloStartResponseSchema, { serverNonce: newNonce() }));
});

t.test('hello/start answers carry the nonce and nothing else', async (t) => {
  t.notOk(valid(helloStartResponseSchema, { serverNonce: newNonce(), info }), 'no info before the token is proved');
});

t.test('hostile strings are refused', async (t) => {
  for (const clusterName of [`x${ESC}[31m`, 'Prod', '-prod', 'prod-', 'a'.repeat(64), '', 'pr od', 'prod\n']) {
    t.notOk(valid(helloStartSchema, { clusterName, clientNonce: newNonce() }), `hello/start clusterName ${JSON.stringify(clusterName)}`);
    t.notOk(valid(peerInfoSchema, { ...info, clusterName }), `info clusterName ${JSON.stringify(clusterName)}`);
  }
  for (const version of [`1.0${ESC}[2J`, '', 'v'.repeat(65), '1.0 beta', '\u202e1.0']) {
    t.notOk(valid(peerInfoSchema, { ...info, version }), `version ${JSON.stringify(version)}`);
  }
  for (const name of [`n${ESC}`, 'n 1', '']) t.notOk(valid(peerInfoSchema, { ...info, name }), `name ${JSON.stringify(name)}`);
  t.notOk(valid(helloFinishSchema, { serverNonce: newNonce(), proof: `${'A'.repeat(42)}${ESC}`, info }), 'proof with a control character');
  t.notOk(valid(helloFinishSchema, { serverNonce: newNonce(), proof: 'A'.repeat(44), info }), 'proof of the wrong length');
});

t.test('an enroll answer cannot smuggle lines into etcd.conf or the terminal', async (t) => {
  const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64)}\n-----END CERTIFICATE-----\n`;
  const answer = {
    clusterName: 'prod',
    certificate: pem,
    clientCertificate: pem,
    caCertificate: pem,
    initialClusterToken: `prod-${'0f'.repeat(12)}`,
    view: [],
  };
  t.ok(valid(enrollResponseSchema, answer), 'what the CA holder sends');
  t.notOk(valid(enrollResponseSchema, { ...answer, initialClusterToken: 'prod-abc\nETCD_FOO=1' }), 'a token with a line break');
  t.notOk(valid(enrollResponseSchema, { ...answer, clusterName: `prod${ESC}` }), 'a cluster name with an escape');
  t.notOk(valid(enrollResponseSchema, { ...answer, certificate: `${pem}${ESC}[2J` }), 'a PEM with an escape');
});

// The peer API's Ajv instances skip validating schemas against the meta-schema at start
// (validateSchema: false, src/agent/peer/server.ts and client.ts); this is where it happens instead.
t.test('every peer protocol schema is valid JSON Schema (draft-07)', async (t) => {
  const checker = new Ajv({ strict: true });
  const schemas = Object.entries(protocol).filter(([name, value]) => name.endsWith('Schema') && typeof value === 'object');
  t.ok(schemas.length >= 12, `found the protocol's schemas (${schemas.length})`);
  for (const [name, schema] of schemas) {
    t.ok(checker.validateSchema(schema as object), `${name}: ${checker.errorsText(checker.errors)}`);
    t.doesNotThrow(() => checker.compile(schema as object), `${name} compiles in strict mode`);
  }
  t.notOk(checker.validateSchema({ type: 'object', properties: { a: { type: 'strnig' } } }), 'the check itself refuses an invalid schema');
});
