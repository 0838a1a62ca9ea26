// Tests of parseDuration: the accepted forms, the refusals, and a round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DURATION_S, parseDuration } from './duration.ts';

test('parseDuration() reads seconds and d h m s units', () => {
  const cases: readonly (readonly [string, number])[] = [
    ['90', 90],
    ['90s', 90],
    ['30m', 1800],
    ['2h', 7200],
    ['7d', 604_800],
    ['1h30m', 5400],
    ['1d12h', 129_600],
    ['1d2h3m4s', 93_784],
    ['0h5m', 300],
    ['05m', 300],
    ['120m', 7200],
    ['3650d', MAX_DURATION_S],
    [String(MAX_DURATION_S), MAX_DURATION_S],
  ];
  for (const [text, seconds] of cases) assert.equal(parseDuration(text), seconds, text);
});

test('parseDuration() refuses anything else', () => {
  const refused = [
    '',
    ' ',
    '0',
    '0s',
    '0h0m',
    '-5',
    '-5m',
    '1.5h',
    '1e3',
    '5 m',
    ' 5m',
    '5m ',
    '5M',
    '5min',
    '1w',
    'm',
    '30m1h',
    '1h1h',
    '1h 30m',
    'h1',
    '3651d',
    String(MAX_DURATION_S + 1),
    '9999999999999',
    '0x10',
  ];
  for (const text of refused) assert.equal(parseDuration(text), null, JSON.stringify(text));
});

/** The canonical form of a number of seconds, as a person would write it. */
function format(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return (d ? `${d}d` : '') + (h ? `${h}h` : '') + (m ? `${m}m` : '') + (s ? `${s}s` : '');
}

test('parseDuration() round-trips d h m s forms and plain seconds', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: MAX_DURATION_S }), (seconds) => {
      assert.equal(parseDuration(format(seconds)), seconds, format(seconds));
      assert.equal(parseDuration(String(seconds)), seconds);
    }),
    { numRuns: 2000 },
  );
});

test('parseDuration() never throws and returns null or a positive integer', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(...Array.from('0123456789dhms -.')), maxLength: 20 }),
      (text) => {
        const seconds = parseDuration(text);
        if (seconds !== null) {
          assert.ok(Number.isSafeInteger(seconds) && seconds > 0 && seconds <= MAX_DURATION_S);
        }
      },
    ),
    { numRuns: 2000 },
  );
});
