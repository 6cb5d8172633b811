import t from 'tap';
import { formatDuration, parseDuration } from '../../src/util/duration.js';

t.test('parses the units operators write', async (t) => {
  const cases: [string, number][] = [
    ['0', 0],
    ['500ms', 500],
    ['90s', 90_000],
    ['5m', 300_000],
    ['12h', 43_200_000],
    ['365d', 365 * 86_400_000],
    ['1h30m', 5_400_000],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
});

t.test('refuses what is not a duration', async (t) => {
  for (const text of ['', '10', '-1h', '1.5h', '1 h', 'h', '10x', '1y', '5m3', 'ten seconds', '9'.repeat(40) + 's', '99999999999999999999d']) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

t.test('formats back largest unit first', async (t) => {
  t.equal(formatDuration(0), '0');
  t.equal(formatDuration(90_000), '1m30s');
  t.equal(formatDuration(365 * 86_400_000), '365d');
  t.equal(formatDuration(120_000), '2m');
  t.equal(parseDuration(formatDuration(93_784_005)), 93_784_005, 'round trip');
});
