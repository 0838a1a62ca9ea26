// Tests of checkStreamPath: the allow-list of HOSTILE-INPUTS.md section 5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { STREAM_PATH_KEY } from '../config/schema.ts';
import { MAX_PATH_LENGTH, MAX_SEGMENT_LENGTH, checkStreamPath } from './stream-path.ts';

const accepted = [
  'live/cam1',
  'a/b/c',
  'live/my_stream-1.v2',
  // The longest segment and the longest path.
  `live/${'s'.repeat(MAX_SEGMENT_LENGTH)}`,
  `${'a'.repeat(126)}/${'b'.repeat(128)}`,
];

const refused: readonly (readonly [string, string])[] = [
  ['empty', ''],
  ['a single segment', 'cam1'],
  ['..', '..'],
  ['.', '.'],
  ['a .. segment', 'live/../x'],
  ['a . segment', 'live/./x'],
  ['a .. last segment', 'live/..'],
  ['an empty segment', 'live//x'],
  ['a leading /', '/live/cam1'],
  ['a trailing /', 'live/cam1/'],
  ['NUL', 'live/cam\0'],
  ['CR LF', 'live/cam1\r\nX-Injected: 1'],
  ['%', 'live/%2e%2e'],
  ['?', 'live/cam1?token=x'],
  ['#', 'live/cam1#x'],
  ['a space', 'live/cam 1'],
  ['a backslash', 'live/..\\x'],
  ['a Cyrillic look-alike a', 'live/c\u0430m1'],
  ['a fullwidth solidus', 'live\uff0fcam1'],
  ['a 129-char segment', `live/${'s'.repeat(129)}`],
  ['a 256-char path', `${'a'.repeat(127)}/${'b'.repeat(128)}`],
];

test('checkStreamPath() accepts app/name paths of letters, digits, _ - . up to the limits', () => {
  assert.equal(MAX_SEGMENT_LENGTH, 128);
  assert.equal(MAX_PATH_LENGTH, 255);
  assert.equal(accepted[4]?.length, 255);
  for (const path of accepted) assert.equal(checkStreamPath(path), null, JSON.stringify(path));
});

for (const [what, path] of refused) {
  test(`checkStreamPath() refuses ${what}`, () => {
    const reason = checkStreamPath(path);
    assert.equal(typeof reason, 'string', JSON.stringify(path));
    assert.notEqual(reason, '');
  });
}

test('checkStreamPath() refuses a 256-char path for its length', () => {
  assert.match(checkStreamPath(`${'a'.repeat(127)}/${'b'.repeat(128)}`) ?? '', /longer than 255/);
});

test('the config pattern for `streams:` keys agrees with checkStreamPath()', () => {
  for (const path of [...accepted, ...refused.map(([, p]) => p)]) {
    assert.equal(STREAM_PATH_KEY.test(path), checkStreamPath(path) === null, JSON.stringify(path));
  }
  const piece = fc.constantFrom('a', 'Z', '9', '_', '-', '.', '..', '/', '//', ' ', '%', '\n');
  const long = fc.constantFrom('a'.repeat(127), 'b'.repeat(128), 'c'.repeat(129));
  fc.assert(
    fc.property(fc.array(fc.oneof(piece, piece, piece, long), { maxLength: 12 }), (pieces) => {
      const path = pieces.join('');
      assert.equal(
        STREAM_PATH_KEY.test(path),
        checkStreamPath(path) === null,
        JSON.stringify(path),
      );
    }),
    { numRuns: 3000 },
  );
});
