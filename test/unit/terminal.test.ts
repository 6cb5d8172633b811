import t from 'tap';
import { jsonForTerminal, sanitizeDeep, sanitizeForTerminal } from '../../src/util/terminal.js';

t.test('sanitizeForTerminal', async (t) => {
  t.equal(sanitizeForTerminal('plain text, üñíçødé ✓'), 'plain text, üñíçødé ✓', 'printable text unchanged');
  t.equal(sanitizeForTerminal('a\u001b[31mb'), 'a\\x1b[31mb');
  t.equal(sanitizeForTerminal('\u0000\u0007\t\n\r\u007f'), '\\x00\\x07\\x09\\x0a\\x0d\\x7f');
  t.equal(sanitizeForTerminal('\u009b2J'), '\\x9b2J', 'C1 CSI');
  t.equal(sanitizeForTerminal('abc\u202edef\u2066\u2028'), 'abc\\u202edef\\u2066\\u2028', 'bidi and line separators');
});

t.test('sanitizeDeep keeps the shape', async (t) => {
  const value = { a: 'x\u001b', b: [1, 'y\u0007', { c: null, d: true }], e: 3 };
  t.same(sanitizeDeep(value), { a: 'x\\x1b', b: [1, 'y\\x07', { c: null, d: true }], e: 3 });
  t.equal(value.a, 'x\u001b', 'the input is not changed');
});

t.test('jsonForTerminal is the same JSON without raw controls', async (t) => {
  const value = { s: 'a\u001b\u009b\u202e\u2028z', n: 1 };
  const text = jsonForTerminal(value);
  t.same(JSON.parse(text), value, 'parses back to the same value');
  // eslint-disable-next-line no-control-regex
  t.notMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e\u2028]/);
});
