/**
 * Issue 10 #1 on network-namespace hosts: `cluster resize 5`, then two fresh
 * agents join, learner then voter, while a writer loses nothing
 * (test/helpers/join-scale.ts). The spares-first variant runs in
 * test/long/join-scale-spares.test.ts.
 */
import { joinScale } from '../helpers/join-scale.js';

await joinScale('grow');
