// Tests of how recording files are named and identified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { basicTime, recordingFileName, recordingId, startOfFileName } from './recording-info.ts';

const START = Date.UTC(2026, 11, 2, 10, 15, 0);

test('basicTime: ISO 8601 basic format, UTC, whole seconds', () => {
  assert.equal(basicTime(START), '20261202T101500Z');
  assert.equal(basicTime(START + 999), '20261202T101500Z'); // milliseconds dropped
  assert.equal(basicTime(Date.UTC(2001, 0, 9, 3, 4, 5)), '20010109T030405Z');
  assert.equal(basicTime(0), '19700101T000000Z');
});

test('startOfFileName: the start a file name carries', () => {
  assert.equal(startOfFileName('20261202T101500Z.mp4'), START);
  assert.equal(startOfFileName('20261202T101500Z-1.mp4'), START);
  assert.equal(startOfFileName('20261202T101500Z-9999.mp4'), START);
});

test('startOfFileName: round trip with basicTime over whole seconds', () => {
  const seconds = fc.integer({ min: 0, max: Math.floor(Date.UTC(9999, 11, 31) / 1000) });
  fc.assert(
    fc.property(seconds, fc.integer({ min: 0, max: 9999 }), (s, n) => {
      const ms = s * 1000;
      assert.equal(startOfFileName(`${basicTime(ms)}.mp4`), ms);
      assert.equal(startOfFileName(`${basicTime(ms)}-${n}.mp4`), ms);
    }),
  );
});

test('startOfFileName: other names are not recordings', () => {
  for (const name of [
    '',
    '..',
    '.',
    '20261202T101500Z',
    '20261202T101500Z.mp4.json',
    '20261202T101500Z.MP4',
    '20261202T101500Z.mp',
    '20261202T101500.mp4',
    '20261202T101500Z-.mp4',
    '20261202T101500Z-99999.mp4',
    '20261202T101500Z--1.mp4',
    '20261202T101500Z-1-2.mp4',
    '20261202T1015000Z.mp4',
    '2026120T101500Z.mp4',
    '2026-12-02T10:15:00Z.mp4',
    'x20261202T101500Z.mp4',
    '20261202T101500Zx.mp4',
    '20261202T101500Z.mp4x',
    ' 20261202T101500Z.mp4',
    '20261202T101500Z.mp4\n',
    '../20261202T101500Z.mp4',
    'cam/20261202T101500Z.mp4',
    '20261202t101500z.mp4',
    '２0261202T101500Z.mp4', // a fullwidth digit
  ]) {
    assert.equal(startOfFileName(name), null, JSON.stringify(name));
  }
});

test('recordingFileName: <stream>/<start>.mp4, then -1, -2 when taken', () => {
  const taken = new Set<string>();
  const name = (): string => {
    const chosen = recordingFileName('live/cam', START + 400, (f) => taken.has(f));
    taken.add(chosen);
    return chosen;
  };
  assert.equal(name(), 'live/cam/20261202T101500Z.mp4');
  assert.equal(name(), 'live/cam/20261202T101500Z-1.mp4');
  assert.equal(name(), 'live/cam/20261202T101500Z-2.mp4');
  // Another second, another stream: no suffix.
  assert.equal(
    recordingFileName('live/cam', START + 1000, (f) => taken.has(f)),
    'live/cam/20261202T101501Z.mp4',
  );
  assert.equal(
    recordingFileName('live/other', START, (f) => taken.has(f)),
    'live/other/20261202T101500Z.mp4',
  );
  // Every name made is one the catalogue reads back.
  for (const file of taken)
    assert.equal(startOfFileName(file.slice(file.lastIndexOf('/') + 1)), START);
});

test('recordingFileName: the suffix search is bounded', () => {
  let asked = 0;
  const name = recordingFileName('live/cam', START, () => {
    asked++;
    return true;
  });
  assert.ok(asked <= 10_000, `asked ${asked} times`);
  assert.notEqual(startOfFileName(name.slice('live/cam/'.length)), null);
});

test('recordingId: 16 lowercase hex digits, stable, distinct per file', () => {
  const id = recordingId('live/cam/20261202T101500Z.mp4');
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.equal(recordingId('live/cam/20261202T101500Z.mp4'), id);
  assert.notEqual(recordingId('live/cam/20261202T101500Z-1.mp4'), id);
  assert.notEqual(recordingId('live/cam2/20261202T101500Z.mp4'), id);
  // SHA-256 of the relative path, so it is the same after a restart (a known value).
  assert.equal(recordingId(''), 'e3b0c44298fc1c14');
});
