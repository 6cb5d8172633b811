import { randomBytes } from 'node:crypto';
import {
  certificateInfo,
  checkClientCsr,
  checkCsrPolicy,
  createCa,
  parseCsr,
  signCsr,
  type CertificateAuthority,
} from '../../pki/index.js';
import { failpoint } from '../../util/failpoint.js';
import type { Logger } from '../../util/log.js';
import type { AdmittedIdentity } from '../admission.js';
import type { View } from '../peer/protocol.js';
import type { ClientCertificateResponse, EnrollRequest, EnrollResponse, RenewResponse } from '../peer/protocol.js';
import type { StateStore } from './state-store.js';

export interface CaHolderOptions {
  clusterName: string;
  /** Leaf lifetime (pki.certValidity). */
  certValidityMs: number;
  caValidityDays: number;
}

/**
 * The CA holder's side of enrollment. The CA key is made here, kept in the
 * state dir (0600) and never sent anywhere. Who gets signed is decided by
 * the admission gate (../admission.ts); this class only signs.
 */
export class CaHolder {
  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly initialClusterToken: string,
    private readonly view: View,
    private readonly options: CaHolderOptions,
    private readonly logger: Logger,
  ) {}

  static async open(store: StateStore, view: View, options: CaHolderOptions, logger: Logger): Promise<CaHolder> {
    const unfinished = await store.setAsideUnfinishedCa();
    if (unfinished) {
      logger.warn(
        { component: 'ca', setAside: unfinished },
        'found a CA key without its certificate: the agent died while making the CA, before it signed anything; the key was set aside and the CA is made again',
      );
    }
    let ca = await store.caMaterial();
    if (!ca) {
      ca = await createCa(options.clusterName, options.caValidityDays);
      await store.saveCaMaterial(ca);
      logger.info({ component: 'ca', fingerprint: certificateInfo(ca.certPem).fingerprint256 }, 'created the cluster CA');
    }
    let record = await store.holder();
    if (!record) {
      failpoint('ca-written-before-holder-record');
      record = {
        clusterName: options.clusterName,
        initialClusterToken: `${options.clusterName}-${randomBytes(12).toString('hex')}`,
        createdAt: new Date().toISOString(),
      };
      await store.saveHolder(record);
    }
    return new CaHolder(ca, record.initialClusterToken, view, options, logger);
  }

  /**
   * A signer for a CA that already exists: after formation, on whichever
   * member holds the CA role (the key from its state dir or from the escrow).
   * Never makes a CA: a formed cluster trusts exactly the one it has.
   */
  static fromMaterial(
    ca: CertificateAuthority,
    initialClusterToken: string,
    view: View,
    options: CaHolderOptions,
    logger: Logger,
  ): CaHolder {
    return new CaHolder(ca, initialClusterToken, view, options, logger);
  }

  get caCertPem(): string {
    return this.ca.certPem;
  }

  /**
   * Sign a node's CSRs for the identity the admission gate established (never
   * for what the request says). `pki/policy` checks that the CSRs ask for that
   * identity's own name and addresses only; the node CSR must carry the key of
   * the caller's TLS session, which is the key its node id is derived from.
   */
  sign(identity: AdmittedIdentity, request: EnrollRequest): EnrollResponse {
    const pair = this.signPair(identity, request);
    this.logger.info({ component: 'ca', peer: identity.name, nodeId: identity.nodeId }, 'signed node and client certificates');
    return {
      clusterName: this.options.clusterName,
      ...pair,
      initialClusterToken: this.initialClusterToken,
      view: this.view,
    };
  }

  /**
   * A member's certificates again, under the same rules as enrollment: its own
   * names and addresses, the node CSR on its current key. `how` says for the
   * log whether it asked with its certificate or re-enrolled with the token.
   */
  renew(identity: AdmittedIdentity, request: EnrollRequest, how: string): RenewResponse {
    const pair = this.signPair(identity, request);
    const notAfter = certificateInfo(pair.certificate).notAfter.toISOString();
    this.logger.info({ component: 'ca', peer: identity.name, nodeId: identity.nodeId, how, notAfter }, 'renewed node and client certificates');
    return pair;
  }

  /**
   * A consumer's client certificate (`etcd-agent cert issue`): CN = name,
   * clientAuth only, no SANs, no CA; the key is the consumer's own (only the
   * CSR came here). `by` is the member that asked.
   */
  signClient(by: AdmittedIdentity, name: string, csrPem: string, validityMs: number): ClientCertificateResponse {
    const csr = parseCsr(csrPem);
    checkClientCsr(csr, name, `a client certificate for consumer "${name}"`);
    const certificate = signCsr(this.ca, csr, { profile: 'client', validityMs });
    const info = certificateInfo(certificate);
    this.logger.info(
      { component: 'ca', consumer: name, by: by.name, serial: info.serialNumber, notAfter: info.notAfter.toISOString() },
      'signed a client certificate for a consumer',
    );
    return { certificate, caCertificate: this.ca.certPem };
  }

  private signPair(identity: AdmittedIdentity, request: EnrollRequest): RenewResponse {
    const who = { name: identity.name, addresses: identity.addresses };
    const nodeCsr = parseCsr(request.nodeCsr);
    checkCsrPolicy(nodeCsr, { ...who, keyId: identity.keyId }, 'node');
    const clientCsr = parseCsr(request.clientCsr);
    checkCsrPolicy(clientCsr, who, 'client');
    const validityMs = this.options.certValidityMs;
    return {
      certificate: signCsr(this.ca, nodeCsr, { profile: 'node', validityMs }),
      clientCertificate: signCsr(this.ca, clientCsr, { profile: 'client', validityMs }),
      caCertificate: this.ca.certPem,
    };
  }
}
