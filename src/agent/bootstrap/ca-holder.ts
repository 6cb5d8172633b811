import { randomBytes } from 'node:crypto';
import {
  certificateInfo,
  checkCsrPolicy,
  createCa,
  parseCsr,
  signCsr,
  type CertificateAuthority,
} from '../../pki/index.js';
import { defineError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';
import type { Logger } from '../../util/log.js';
import type { View } from '../peer/protocol.js';
import type { EnrollRequest, EnrollResponse } from '../peer/protocol.js';
import type { StateStore } from './state-store.js';

export const NotInitialMember = defineError(
  'EA_CA_NOT_MEMBER',
  (nodeId: string) => `node ${nodeId} is not an initial member; during bootstrap only initial members are enrolled`,
);

export interface CaHolderOptions {
  clusterName: string;
  certValidityDays: number;
  caValidityDays: number;
}

/**
 * The CA holder's side of enrollment. The CA key is made here, kept in the
 * state dir (0600) and never sent anywhere. A CSR is signed only for a member
 * of the committed view, only for that member's own names and addresses.
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

  get caCertPem(): string {
    return this.ca.certPem;
  }

  /** Sign a member's CSRs. `memberId` is the node id established by authentication, never by the request. */
  sign(memberId: string, request: EnrollRequest): EnrollResponse {
    const member = this.view.find((m) => m.nodeId === memberId);
    if (!member) throw NotInitialMember(memberId);
    const who = { name: member.name, addresses: [member.address] };
    const nodeCsr = parseCsr(request.nodeCsr);
    checkCsrPolicy(nodeCsr, who, 'node');
    const clientCsr = parseCsr(request.clientCsr);
    checkCsrPolicy(clientCsr, who, 'client');
    const validityDays = this.options.certValidityDays;
    const certificate = signCsr(this.ca, nodeCsr, { profile: 'node', validityDays });
    const clientCertificate = signCsr(this.ca, clientCsr, { profile: 'client', validityDays });
    this.logger.info({ component: 'ca', peer: member.name, nodeId: memberId }, 'signed node and client certificates');
    return {
      clusterName: this.options.clusterName,
      certificate,
      clientCertificate,
      caCertificate: this.ca.certPem,
      initialClusterToken: this.initialClusterToken,
      view: this.view,
    };
  }
}
