/**
 * Issue 11 #1 as written: pki.certValidity 3m, every node's server
 * certificate renewed twice while clients write through every node; every
 * node stays ready after its first certificate has expired. About 5 minutes
 * (npm run test:long).
 */
import { renewalScenario } from '../helpers/renewal-scenario.js';

renewalScenario({ subnet: 75, validityMinutes: 3, rounds: 2 });
