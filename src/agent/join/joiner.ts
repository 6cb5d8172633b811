import { readdir } from 'node:fs/promises';
import { endpointStatus } from '../../etcd/client.js';
import { defineError, describeError, isAgentError } from '../../util/errors.js';
import { failpoint } from '../../util/failpoint.js';
import { enrollAsJoiner, ensureKey } from '../bootstrap/enrollment.js';
import type { Enrollment, FormedMarker, JoinState } from '../bootstrap/state-store.js';
import { clientUrl, localClientUrl } from '../files/etcd-files.js';
import { adminTlsOf } from '../files/pki-files.js';
import { enrollResponseSchema, joinResponseSchema, type Candidate, type EnrollResponse, type JoinResponse } from '../peer/protocol.js';
import { candidateOf, endpointOfInfo } from '../peer/tracker.js';
import type { Phase } from '../status/phase.js';
import type { AgentContext } from '../wiring-context.js';

export const JoinAnswerInvalid = defineError(
  'EA_JOIN_ANSWER_INVALID',
  (member: string, why: string) => `the join answer of ${member} cannot be used: ${why}; the agent asks again`,
);
export const JoinNoMember = defineError(
  'EA_JOIN_NO_MEMBER',
  (why: string) => `no member of the formed cluster answered this node's request to join: ${why}`,
);
export const JoinWrongMember = defineError(
  'EA_JOIN_WRONG_MEMBER',
  (what: string, dataDir: string) =>
    `this node's etcd runs as ${what}: its data dir ${dataDir} holds another member's data; stop the agent, move that directory aside and start the agent again`,
);

/** The conductor's shared pieces (the joiner needs no observation and records no refusals). */
export interface JoinerParts extends Omit<AgentContext, 'observation' | 'refused'> {
  /** The node now holds its cluster certificate (the peer server switches to it). */
  enrolled: () => void;
}

/** How long a started etcd may stay silent before the joiner asks whether its learner still exists. */
const RECHECK_AFTER_MS = 10_000;
const STATUS_TIMEOUT_MS = 2000;
const DISCOVERY_EVERY_MS = 5000;

/**
 * The joiner: a fresh agent that found a formed cluster asks a member to be
 * let in (POST /v1/join, every tick while it waits, which keeps its place in
 * the queue), and waits as `joining` (queued) or `spare` (cluster full) with
 * the member's reason. Once admitted as a learner it persists the admission
 * (join.json), enrolls with the CA holder the answer names, writes etcd.conf
 * with state `existing` and the admission's member list, claims the data dir,
 * starts etcd, and persists the formed marker as soon as its own member runs.
 * Promotion is the voters' job (the membership controller). Each step is
 * resumable from what is persisted; nothing here ever bootstraps a cluster.
 */
export class Joiner {
  private preferred: string | undefined;
  private lastDiscoveryAt = 0;
  private silentSince: number | undefined;
  private lastRecheckAt = 0;

  constructor(private readonly parts: JoinerParts) {}

  self(): Candidate {
    return candidateOf(this.parts.state.selfInfo());
  }

  async step(): Promise<void> {
    const { state } = this.parts;
    const js = state.joinState;
    if (!js) return this.waitForAdmission();
    if (!state.enrollment || !this.parts.creds().pki()) return this.enroll(js);
    return this.start(js, state.enrollment);
  }

  /** Asks the members it knows, the one that answered last first; the first answer counts. */
  async ask(): Promise<{ answer: JoinResponse; from: string }> {
    const { tracker, client } = this.parts;
    if (this.formedPeers().length === 0 && Date.now() - this.lastDiscoveryAt > DISCOVERY_EVERY_MS) {
      this.lastDiscoveryAt = Date.now();
      await this.parts.peerSet().refresh();
      await tracker().round(this.parts.peerSet().endpoints());
    }
    const peers = this.formedPeers().sort((a, b) => (a.nodeId === this.preferred ? -1 : b.nodeId === this.preferred ? 1 : 0));
    if (peers.length === 0) throw JoinNoMember('no authenticated member is known yet (check seeds or mDNS)');
    const problems: string[] = [];
    for (const peer of peers) {
      const endpoint = endpointOfInfo(peer);
      try {
        const answer = await client().call<JoinResponse>(endpoint, 'POST', '/v1/join', { candidate: this.self(), reason: 'fresh' }, joinResponseSchema);
        this.preferred = peer.nodeId;
        return { answer, from: peer.name };
      } catch (err) {
        problems.push(`${peer.name}: ${describeError(err)}`);
      }
    }
    this.preferred = undefined;
    throw JoinNoMember(problems.join('; '));
  }

  private formedPeers() {
    return this.parts.tracker().peers().filter((p) => p.stage === 'formed');
  }

  private async waitForAdmission(): Promise<void> {
    const { answer, from } = await this.ask();
    // The admin client key is made while waiting (the node key exists already): enrollment is quicker once admitted.
    await ensureKey(this.parts.pki.clientKey);
    if (answer.state === 'admitted') return this.admitted(answer, from);
    const phase: Phase = answer.state === 'spare' ? 'spare' : 'joining';
    const label = answer.state === 'refused' ? 'refused' : answer.state;
    this.parts.say(phase, `${label} (answer of ${from}): ${answer.reason}`);
  }

  private async admitted(answer: JoinResponse, from: string): Promise<void> {
    const { state, store, config } = this.parts;
    const admission = answer.admission;
    const holder = answer.caHolder;
    if (!admission) throw JoinAnswerInvalid(from, 'it says admitted but sends no admission');
    if (!holder) throw JoinAnswerInvalid(from, 'it names no CA holder to enroll with');
    const self = this.self();
    const ownUrl = clientUrl(self.address, self.etcdPeerPort);
    if (!admission.initialCluster.some((m) => m.name === self.name && m.peerUrl === ownUrl)) {
      throw JoinAnswerInvalid(from, `its member list does not have this node (${self.name} at ${ownUrl})`);
    }
    const js: JoinState = { clusterName: config.cluster.name, admission, caHolder: holder, admittedAt: new Date().toISOString() };
    await store.saveJoinState(js);
    failpoint('join-admitted');
    state.joinState = js;
    if (state.enrollment) {
      // Enrolled for an earlier admission whose learner was removed before its etcd ever ran: same certificates, new member list.
      state.enrollment = { ...state.enrollment, joined: admission };
      await store.saveEnrollment(state.enrollment);
    }
    this.parts.logger.info(
      { component: 'membership', memberId: admission.memberId, clusterId: admission.clusterId, caHolder: holder.name, by: from },
      'admitted as a learner',
    );
    this.parts.say('enrolling', `admitted as learner ${admission.memberId} by ${from}; asking the CA holder ${holder.name} to sign this node's certificate`);
    this.parts.wake();
  }

  private async enroll(js: JoinState): Promise<void> {
    const { config, client, creds } = this.parts;
    const self = { name: config.node.name, address: config.node.advertiseAddress, clusterName: config.cluster.name };
    this.parts.say('enrolling', `admitted as learner ${js.admission.memberId}; asking the CA holder ${js.caHolder.name} (${js.caHolder.address}) to sign this node's certificate`);
    let result;
    try {
      result = await enrollAsJoiner(this.parts.pki, self, js, (holder, request) =>
        client().call<EnrollResponse>(endpointOfInfo(holder), 'POST', '/v1/enroll', request, enrollResponseSchema),
      );
    } catch (err) {
      // Refused or unreachable: the admission may be gone (learner timeout), or the CA role moved (the holder
      // restarted or died since the admission); named as itself: the holder named was an earlier host at this
      // address, which a member's view can hold for a moment. Ask the cluster again.
      if ((['EA_PEER_REFUSED', 'EA_PEER_UNREACHABLE', 'EA_PEER_SELF'] as const).some((code) => isAgentError(err, code))) await this.recheck(js);
      throw err;
    }
    creds().setPki(result.pki);
    failpoint('pki-written-before-enrollment');
    await this.parts.store.saveEnrollment(result.enrollment);
    failpoint('enrollment-written');
    this.parts.state.enrollment = result.enrollment;
    this.parts.enrolled();
    this.parts.logger.info({ component: 'pki', caFingerprint: result.enrollment.caFingerprint, caHolder: js.caHolder.name }, 'enrolled as a joiner: certificates written');
    this.parts.say('starting-etcd', `enrolled; starting etcd as learner ${js.admission.memberId}`);
    this.parts.wake();
  }

  private async start(js: JoinState, enrollment: Enrollment): Promise<void> {
    const { etcd, config, creds } = this.parts;
    const did = await etcd.ensureRunning(enrollment, 'existing');
    if (did) this.parts.say('starting-etcd', `${did} as learner ${js.admission.memberId} of cluster ${js.admission.clusterId}`);
    const pki = creds().pki()!;
    let status;
    try {
      status = await endpointStatus(localClientUrl(config), adminTlsOf(pki), STATUS_TIMEOUT_MS);
    } catch (err) {
      const now = Date.now();
      this.silentSince ??= now;
      if (now - this.silentSince > RECHECK_AFTER_MS && now - this.lastRecheckAt > RECHECK_AFTER_MS) {
        this.lastRecheckAt = now;
        if (await this.recheck(js)) return;
      }
      // 'starting-etcd' is a busy phase: the conductor looks again within 250 ms.
      this.parts.say('starting-etcd', `etcd started as learner ${js.admission.memberId}; waiting for it to answer: ${describeError(err)}`);
      return;
    }
    this.silentSince = undefined;
    if (status.clusterId !== js.admission.clusterId) throw JoinWrongMember(`a member of cluster ${status.clusterId}, not of ${js.admission.clusterId}`, config.etcd.dataDir);
    if (status.memberId !== js.admission.memberId) throw JoinWrongMember(`member ${status.memberId}, not learner ${js.admission.memberId} it was admitted as`, config.etcd.dataDir);
    if (status.leaderId === '0') {
      this.parts.say('starting-etcd', `etcd runs as learner ${js.admission.memberId}; waiting for it to reach the leader`);
      return;
    }
    // Its own member answered: etcd's data is written, an empty data dir from now on is a wiped one.
    await etcd.firstStartDone();
    const formed: FormedMarker = {
      clusterName: config.cluster.name,
      clusterId: status.clusterId,
      memberId: status.memberId,
      formedAt: new Date().toISOString(),
    };
    await this.parts.store.saveFormed(formed);
    this.parts.state.formed = formed;
    this.parts.logger.info({ component: 'membership', clusterId: formed.clusterId, memberId: formed.memberId, learner: status.isLearner }, 'joined: this node\'s member runs');
    this.parts.say('formed', `${status.isLearner ? 'learner' : 'member'} ${formed.memberId} runs${status.isLearner ? '; waiting to be promoted' : ''}`);
  }

  /**
   * Asks the cluster whether this node's admission still stands. When its
   * learner is gone (removed after the learner timeout) and its etcd never
   * wrote data, the admission is dropped and the node queues again; returns
   * true then. A learner removed after its etcd wrote data is left as it is:
   * that is a removed member's data dir, never reused as a fresh one.
   */
  private async recheck(js: JoinState): Promise<boolean> {
    const { answer, from } = await this.ask();
    if (answer.state === 'admitted' && answer.admission?.memberId === js.admission.memberId) {
      // Still admitted; but the CA role may have moved (the holder named at admission restarted or died, and
      // another member took the role): enroll with the one the cluster names now, or ask the old one forever.
      const holder = answer.caHolder;
      if (holder && holder.nodeId !== js.caHolder.nodeId) {
        const next: JoinState = { ...js, caHolder: holder };
        await this.parts.store.saveJoinState(next);
        this.parts.state.joinState = next;
        this.parts.logger.info({ component: 'membership', was: js.caHolder.name, now: holder.name, by: from }, 'the CA holder changed since this node was admitted; enrolling with the new one');
      }
      return false;
    }
    const memberId = js.admission.memberId;
    const dataDir = this.parts.config.etcd.dataDir;
    const entries = await readdir(dataDir).catch(() => [] as string[]);
    if (entries.length > 0) {
      this.parts.say('joining', `learner ${memberId} of this node is no longer admitted (answer of ${from}: ${answer.reason}), but its etcd data dir ${dataDir} holds data: it is left as it is`);
      return true;
    }
    await this.parts.etcd.manager.stop();
    await this.parts.store.remove('join.json');
    this.parts.state.joinState = undefined;
    this.parts.logger.warn({ component: 'membership', memberId, answer: answer.state, reason: answer.reason, by: from }, 'admission gone before this node\'s etcd ever ran; asking to join again');
    if (answer.state === 'admitted') await this.admitted(answer, from);
    else this.parts.say(answer.state === 'spare' ? 'spare' : 'joining', `${answer.state} (answer of ${from}): ${answer.reason}`);
    return true;
  }
}
