/**
 * Issue 11 #1 in the default suite: one renewal of every node's certificates
 * at pki.certValidity 2m (the smallest), with writers through every node and
 * the 2 s outage bound (test/helpers/renewal-scenario.ts). The full
 * scenario, two renewals at 3m, runs in test/long/cert-renewal-twice.test.ts.
 */
import { renewalScenario } from '../helpers/renewal-scenario.js';

renewalScenario({ subnet: 71, validityMinutes: 2, rounds: 1 });
