import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { ConfigError, NotConfiguredError } from '../../src/agent/config/errors.js';
import { usageError } from '../../src/agent/commands/args.js';
import { StateCorrupt } from '../../src/agent/bootstrap/state-store.js';
import { PeerApiError, badPeerRequest, clusterMismatch, helloExpired, helloRequired, identityRefused, tokenProofRejected } from '../../src/agent/peer/errors.js';
import { EtcdConfInvalid, EtcdUnreachable } from '../../src/etcd/errors.js';
import * as pkiErrors from '../../src/pki/errors.js';
import { SvcSpecInvalid } from '../../src/systemd/errors.js';
import { ERROR_CATALOGUE, hasHttpStatus, httpStatusOf, isErrorCode, type ErrorEntry } from '../../src/util/error-catalogue.js';
import { defineError } from '../../src/util/errors.js';
import { renderErrorDoc } from '../../packaging/gen/error-doc.js';

/**
 * The error catalogue is the one list of the agent's error codes: every code
 * in src/ is in it, every entry in it is used, and docs/errors.md is its
 * rendering. The HTTP statuses and exit codes it gives are the ones the code
 * had before they moved there.
 */

const REPO = resolve(import.meta.dirname, '..', '..');
const SRC = join(REPO, 'src');
const CATALOGUE_FILE = join(SRC, 'util', 'error-catalogue.ts');
const DOC = join(REPO, 'docs', 'errors.md');
const CODE = /\bEA_[A-Z0-9_]+\b/g;

/** Every EA_ code written anywhere in src/ outside the catalogue, with where it first appears. */
async function codesUsedInSrc(): Promise<Map<string, string>> {
  const used = new Map<string, string>();
  const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts')).sort();
  for (const file of files) {
    const path = join(SRC, file);
    if (path === CATALOGUE_FILE) continue;
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.forEach((line, i) => {
      for (const [code] of line.matchAll(CODE)) {
        if (!used.has(code)) used.set(code, `${relative(REPO, path)}:${i + 1}`);
      }
    });
  }
  return used;
}

t.test('every EA_ code used in src/ is in the catalogue, and every entry is used', async (t) => {
  const used = await codesUsedInSrc();
  t.ok(used.size > 0, 'the scan finds codes');
  const missing = [...used].filter(([code]) => !isErrorCode(code)).map(([code, where]) => `${code} (${where})`);
  t.same(missing, [], `codes used in src/ but missing from src/util/error-catalogue.ts (add each with its meaning and action): ${missing.join(', ')}`);
  const stale = Object.keys(ERROR_CATALOGUE).filter((code) => !used.has(code));
  t.same(stale, [], `catalogue entries no code in src/ uses any more (remove them): ${stale.join(', ')}`);
});

t.test('every entry says what happened and what to do, in a sentence each', async (t) => {
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    const { meaning, action, http, exit }: ErrorEntry = entry;
    t.match(meaning, /^\S.*[.?!]$/s, `${code}: meaning is a sentence`);
    t.match(action, /^\S.*[.?!]$/s, `${code}: action is a sentence`);
    if (http !== undefined) t.ok(Number.isInteger(http) && http >= 400 && http <= 599, `${code}: HTTP status ${http} is an error status`);
    if (exit !== undefined) t.ok(Number.isInteger(exit) && exit >= 0 && exit <= 125, `${code}: exit code ${exit} is usable`);
  }
});

t.test('docs/errors.md is the rendered catalogue', async (t) => {
  const committed = await readFile(DOC, 'utf8').catch(() => '(docs/errors.md is missing)\n');
  const rendered = renderErrorDoc();
  t.ok(committed === rendered, 'docs/errors.md differs from the catalogue: run `npm run gen:errors` and commit docs/errors.md');
  for (const code of Object.keys(ERROR_CATALOGUE)) t.match(rendered, `### \`${code}\``, `${code} has its own heading`);
});

t.test('a code whose prefix has no section in the page is refused, naming it', async (t) => {
  t.throws(() => renderErrorDoc({ EA_NEWTHING_BROKEN: { meaning: 'm.', action: 'a.' } }), /EA_NEWTHING_BROKEN fits no section/);
});

t.test('the peer API answers with the statuses the catalogue gives, as before it did', async (t) => {
  t.equal(helloRequired().httpStatus, 401);
  t.equal(tokenProofRejected().httpStatus, 403);
  t.equal(clusterMismatch().httpStatus, 403);
  t.equal(helloExpired().httpStatus, 403, 'an expired hello is not a token problem, but still a refusal');
  t.equal(new PeerApiError('EA_PEER_FORBIDDEN', 'x').httpStatus, 403, 'admission refusals: forbidden');
  t.equal(new PeerApiError('EA_PEER_NOT_READY', 'x').httpStatus, 409, 'admission refusals: not ready');
  t.equal(identityRefused('x').httpStatus, 403);
  t.equal(badPeerRequest('x').httpStatus, 400);
  t.equal(httpStatusOf('EA_PEER_INTERNAL'), 500);
  // Signing refusals during enrollment were mapped by the prefix EA_PKI_ to 403: every PKI code still is.
  const pkiCodes = Object.values(pkiErrors).map((factory) => factory.code);
  t.ok(pkiCodes.length >= 7, 'the PKI error factories are found');
  for (const code of pkiCodes) t.ok(hasHttpStatus(code) && httpStatusOf(code) === 403, `${code} answers 403`);
  // Codes without a status stay this agent's own failures (500), e.g. the CA holder's state.
  t.notOk(hasHttpStatus(StateCorrupt.code), 'EA_STATE_CORRUPT has no HTTP status');
  t.notOk(hasHttpStatus('EA_CA_NOT_MEMBER'), 'EA_CA_NOT_MEMBER has no HTTP status');
  t.notOk(hasHttpStatus('FST_ERR_NOT_OURS'), 'a code outside the catalogue has none');
});

t.test('exit codes come from the catalogue and are the ones the code stated before', async (t) => {
  t.equal(usageError('x').exitCode, 2, 'EA_CLI_USAGE');
  t.equal(EtcdConfInvalid('f', 'p').exitCode, 2, 'EA_ETCD_CONF_INVALID');
  t.equal(SvcSpecInvalid('f', 'p').exitCode, 2, 'EA_SVC_SPEC_INVALID');
  t.equal(new ConfigError([{ key: 'k', message: 'm' }]).exitCode, 2, 'EA_CONFIG_INVALID');
  t.equal(new NotConfiguredError('/etc/etcd-agent/config.yaml', 'does not exist').exitCode, 2, 'EA_NOT_CONFIGURED');
  t.equal(StateCorrupt('f', 'w').exitCode, 1, 'EA_STATE_CORRUPT');
  t.equal(EtcdUnreachable('e', 'r').exitCode, 1, 'a code without a stated exit code exits 1');
  t.equal(defineError('EA_CLI_USAGE', () => 'x', 64)().exitCode, 64, 'an explicit exit code still wins');
});
