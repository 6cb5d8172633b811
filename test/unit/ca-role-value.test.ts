import t from 'tap';
import { candidateFromValue, electionValue } from '../../src/agent/controllers/ca-role-value.js';
import { viewMember } from '../helpers/fixtures.js';

t.test('the CA-role election value is the holder\'s Candidate, checked when read back', async (t) => {
  const c = viewMember(2);
  t.same(candidateFromValue(electionValue(c)), c, 'round trip');
  t.same(JSON.parse(electionValue({ ...c, extra: 'x' } as typeof c)), c, 'only the Candidate fields are written');
  const bad: [string, string][] = [
    ['not JSON', '{"nodeId"'],
    ['an array', '[]'],
    ['a field missing', JSON.stringify({ ...c, etcdClientPort: undefined })],
    ['an extra field', JSON.stringify({ ...c, admin: true })],
    ['a node id that is not 32 hex digits', JSON.stringify({ ...c, nodeId: 'x'.repeat(32) })],
    ['a name with a control character', JSON.stringify({ ...c, name: 'n\u001b[2J' })],
    ['an address that is not an IP', JSON.stringify({ ...c, address: 'evil.example' })],
    ['a port out of range', JSON.stringify({ ...c, peerApiPort: 70000 })],
    ['a huge value', JSON.stringify({ ...c, name: 'n'.repeat(2000) })],
  ];
  for (const [what, value] of bad) t.equal(candidateFromValue(value), undefined, what);
});
