/**
 * `etcd-agent cert issue`: a client certificate for a consumer of the
 * cluster (kube-apiserver, Patroni, an application), made on a member. The
 * key is made here and never leaves this host; the CSR goes to the CA holder
 * over mutual TLS with the member's own node certificate (the admission gate
 * signs client certificates for members only). DIR gets NAME.key (0600),
 * NAME.crt, ca.crt and NAME.env for etcdctl.
 *
 * Running it again with the same NAME and DIR renews: the key in DIR is kept
 * (unless a new one is asked for) and NAME.crt is replaced atomically.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { localClientUrl } from '../files/etcd-files.js';
import { readMemberFacts, type MemberFacts } from '../../etcd/node-records.js';
import { renderEtcdctlEnv } from '../../etcd/etcdctl-env.js';
import {
  certificateInfo,
  consumerSubjectNames,
  createCsr,
  generateKeyPair,
  keyMatchesCertificate,
  verifyIssuedBy,
} from '../../pki/index.js';
import { readFileIfExists, writeFileAtomic } from '../../util/atomic-write.js';
import { AgentError, defineError, describeError } from '../../util/errors.js';
import { createPublicKey } from 'node:crypto';
import { caHolderOf } from '../bootstrap/election.js';
import { StateStore } from '../bootstrap/state-store.js';
import type { AgentConfig } from '../config/types.js';
import { adminTlsOf, pkiPaths, readNodePki } from '../files/pki-files.js';
import { callWithClusterCertificate } from '../peer/client.js';
import { clientCertificateResponseSchema, type Candidate, type ClientCertificateResponse } from '../peer/protocol.js';
import { endpointOfInfo } from '../peer/tracker.js';
import { askCandidates, candidateList } from './renew-request.js';

export const NotAMember = defineError(
  'EA_CERT_NOT_MEMBER',
  (dir: string, why: string) =>
    `this host has no usable cluster certificate in ${dir} (${why}); run \`etcd-agent cert issue\` as root on a member of the cluster, with the --config (or --root) its agent runs with`,
);

export const OutDirInvalid = defineError('EA_CERT_OUT_INVALID', (path: string, why: string) => `cannot write the client certificate to ${path}: ${why}`);

export interface IssueOptions {
  config: AgentConfig;
  name: string;
  outDir: string;
  validityMs: number;
  /** Make a new key even when DIR/NAME.key exists. */
  newKey: boolean;
}

export interface IssuedClient {
  keyFile: string;
  certFile: string;
  caFile: string;
  envFile: string;
  keyReused: boolean;
  notAfter: Date;
  serialNumber: string;
  endpoints: string[];
  signedBy: string;
}

export async function issueClientCertificate(o: IssueOptions): Promise<IssuedClient> {
  const { config, name } = o;
  const names = consumerSubjectNames(name);
  const files = {
    keyFile: join(o.outDir, `${name}.key`),
    certFile: join(o.outDir, `${name}.crt`),
    caFile: join(o.outDir, 'ca.crt'),
    envFile: join(o.outDir, `${name}.env`),
  };
  await checkOutDir(o.outDir);

  const paths = pkiPaths(config.paths.pkiDir);
  const pki = await readNodePki(paths).catch((err: unknown) => {
    throw NotAMember(paths.dir, describeError(err));
  });
  if (!pki) throw NotAMember(paths.dir, 'the node certificate, its key or the CA certificate is missing');
  if (certificateInfo(pki.serverCertPem).notAfter.getTime() <= Date.now()) {
    throw NotAMember(paths.dir, 'its certificate has expired; the agent renews it (see `etcd-agent status`)');
  }

  // Who to ask: the CA holder of the agreed view first, then every known agent (a non-holder refuses at once).
  const facts = await readMemberFacts(
    [localClientUrl(config)],
    adminTlsOf(pki),
    config.cluster.name,
    5000,
  ).catch((): MemberFacts | undefined => undefined);
  const view = (await new StateStore(config.paths.stateDir).view().catch(() => undefined))?.view ?? [];
  const records: Candidate[] = (facts?.records ?? []).map(({ updatedAt: _u, ...c }) => c);
  const candidates = candidateList('', [view.length > 0 ? caHolderOf(view) : undefined], view, records);

  const existing = o.newKey ? undefined : await readFileIfExists(files.keyFile);
  if (existing !== undefined && !isPrivateKey(existing)) {
    throw OutDirInvalid(files.keyFile, 'it exists but is not a private key; move it away, or pass --new-key');
  }
  const keyPem = existing ?? (await generateKeyPair()).privateKeyPem;
  // The key first (0600), so a certificate never points at a missing key.
  await writeFileAtomic(files.keyFile, keyPem, { mode: 0o600, dirMode: 0o755 });
  const publicKeyPem = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
  const csr = createCsr({ privateKeyPem: keyPem, publicKeyPem }, names);

  const tls = { keyPem: pki.serverKeyPem, certPem: pki.serverCertPem, caPem: pki.caPem };
  const body = { name, csr, validitySeconds: Math.floor(o.validityMs / 1000) };
  const { answer, from } = await askCandidates(candidates, (c) =>
    callWithClusterCertificate<ClientCertificateResponse>(endpointOfInfo(c), '/v1/client-certificate', body, tls, clientCertificateResponseSchema, {
      localAddress: config.node.advertiseAddress,
    }),
  );

  const info = checkAnswer(answer, pki.caPem, keyPem, name);
  await writeFileAtomic(files.caFile, pki.caPem, { mode: 0o644 });
  await writeFileAtomic(files.certFile, answer.certificate, { mode: 0o644 });
  const endpoints = [...new Set(facts?.clientUrls ?? [])];
  if (endpoints.length === 0) endpoints.push(localClientUrl(config));
  await writeFileAtomic(
    files.envFile,
    renderEtcdctlEnv({
      endpoints,
      caFile: files.caFile,
      certFile: files.certFile,
      keyFile: files.keyFile,
      path: files.envFile,
      title: `etcdctl settings for the client certificate ${name}, written by etcd-agent cert issue (run it again to renew).`,
    }),
    { mode: 0o644 },
  );
  return { ...files, keyReused: existing !== undefined, notAfter: info.notAfter, serialNumber: info.serialNumber, endpoints, signedBy: from.name };
}

/** What the CA holder sent must be exactly what was asked for, from the CA this cluster trusts. */
function checkAnswer(answer: ClientCertificateResponse, caPem: string, keyPem: string, name: string): ReturnType<typeof certificateInfo> {
  const wrong = (why: string): AgentError => new AgentError('EA_ENROLL_ANSWER_INVALID', `the CA holder's client certificate cannot be used: ${why}`);
  if (answer.caCertificate.trim() !== caPem.trim()) throw wrong('it names another CA than the cluster CA of this member');
  if (!verifyIssuedBy(answer.certificate, caPem)) throw wrong('it is not signed by the cluster CA');
  if (!keyMatchesCertificate(keyPem, answer.certificate)) throw wrong('it is not for the key made here');
  const info = certificateInfo(answer.certificate);
  if (info.subjectCommonName !== name) throw wrong(`its CN is "${info.subjectCommonName}", not "${name}"`);
  if (info.isCa) throw wrong('it is a CA certificate');
  if (info.extendedKeyUsage.join() !== 'clientAuth') throw wrong(`its extended key usage is ${info.extendedKeyUsage.join(', ') || 'none'}, not clientAuth only`);
  if (info.dnsNames.length + info.ipAddresses.length > 0) throw wrong('it carries subject alternative names');
  return info;
}

async function checkOutDir(dir: string): Promise<void> {
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw OutDirInvalid(dir, describeError(err));
  });
  if (st && !st.isDirectory()) throw OutDirInvalid(dir, 'it exists and is not a directory');
}

function isPrivateKey(pem: string): boolean {
  try {
    createPublicKey(pem);
    return /PRIVATE KEY/.test(pem);
  } catch {
    return false;
  }
}
