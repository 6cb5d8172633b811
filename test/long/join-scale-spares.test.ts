/**
 * Issue 10 #1, spares first: two agents wait as spares on a full 3-voter
 * cluster, then `cluster resize 5`; both join, learner then voter
 * (test/helpers/join-scale.ts). Spares are also covered in the default suite
 * by test/integration/join-learner.test.ts and test/e2e/mdns-late-and-spare.test.ts.
 */
import { joinScale } from '../helpers/join-scale.js';

await joinScale('spares');
