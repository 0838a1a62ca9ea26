import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  attributeValue,
  comparePart,
  llStartIndex,
  resolvePath,
  scanPlaylist,
  scanPlaylistAfter,
  type ListedPart,
} from './hls-playlist-scan.ts';

/** An LL-HLS playlist like onair's: `complete` segments of `perSegment` parts, then `open` parts. */
function llPlaylist(options: {
  mediaSequence: number;
  complete: number;
  perSegment: number;
  open: number;
  skipped?: number;
  endList?: boolean;
}): string {
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    '#EXT-X-TARGETDURATION:2',
    `#EXT-X-MEDIA-SEQUENCE:${options.mediaSequence}`,
    '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.00000,PART-HOLD-BACK=0.60000',
    '#EXT-X-PART-INF:PART-TARGET=0.20000',
    '#EXT-X-MAP:URI="s/abc-init1.mp4"',
  ];
  if (options.skipped) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${options.skipped}`);
  const first = options.mediaSequence + (options.skipped ?? 0);
  const parts = (msn: number, count: number): void => {
    for (let i = 0; i < count; i++) {
      const independent = i === 0 ? ',INDEPENDENT=YES' : '';
      lines.push(`#EXT-X-PART:DURATION=0.20000,URI="s/abc-${msn}.${i}.m4s"${independent}`);
    }
  };
  for (let k = 0; k < options.complete; k++) {
    parts(first + k, options.perSegment);
    lines.push('#EXTINF:2.00000,', `s/abc-${first + k}.m4s`);
  }
  const open = first + options.complete;
  parts(open, options.open);
  if (options.endList) lines.push('#EXT-X-ENDLIST');
  else lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s/abc-${open}.${options.open}.m4s"`);
  return `${lines.join('\n')}\n`;
}

void test('scanPlaylist() reads the header, numbers segments and parts, and says what comes next', () => {
  const scan = scanPlaylist(llPlaylist({ mediaSequence: 7, complete: 2, perSegment: 3, open: 2 }));
  assert.equal(scan.targetDurationS, 2);
  assert.equal(scan.partTargetS, 0.2);
  assert.equal(scan.canBlockReload, true);
  assert.equal(scan.canSkipUntilS, 12);
  assert.equal(scan.partHoldBackS, 0.6);
  assert.equal(scan.mapUri, 's/abc-init1.mp4');
  assert.equal(scan.endList, false);
  assert.deepEqual(
    scan.segments.map((s) => [s.msn, s.uri, s.durationS]),
    [
      [7, 's/abc-7.m4s', 2],
      [8, 's/abc-8.m4s', 2],
    ],
  );
  assert.deepEqual(
    scan.parts.map((p) => `${p.msn}.${p.index}${p.independent ? 'i' : ''}`),
    ['7.0i', '7.1', '7.2', '8.0i', '8.1', '8.2', '9.0i', '9.1'],
  );
  assert.deepEqual(scan.next, { msn: 9, part: 2 });
});

void test('scanPlaylist() asks for part 0 of the next segment after a complete one', () => {
  const scan = scanPlaylist(llPlaylist({ mediaSequence: 0, complete: 2, perSegment: 3, open: 0 }));
  assert.deepEqual(scan.next, { msn: 2, part: 0 });
});

void test('scanPlaylist() numbers a delta update after its skipped segments', () => {
  const scan = scanPlaylist(
    llPlaylist({ mediaSequence: 10, skipped: 4, complete: 1, perSegment: 2, open: 1 }),
  );
  assert.deepEqual(
    scan.parts.map((p) => `${p.msn}.${p.index}`),
    ['14.0', '14.1', '15.0'],
  );
  assert.equal(scan.segments[0]?.msn, 14);
});

void test('scanPlaylist() reads a plain playlist (nginx-rtmp) and EXT-X-ENDLIST, with CRLF lines', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-MEDIA-SEQUENCE:12',
    '#EXT-X-TARGETDURATION:2',
    '#EXTINF:2.000,',
    'bench-12.ts',
    '#EXTINF:1.960,',
    'bench-13.ts',
    '#EXT-X-ENDLIST',
    '',
  ].join('\r\n');
  const scan = scanPlaylist(text);
  assert.equal(scan.partTargetS, null);
  assert.equal(scan.canBlockReload, false);
  assert.equal(scan.endList, true);
  assert.deepEqual(scan.segments, [
    { msn: 12, uri: 'bench-12.ts', durationS: 2 },
    { msn: 13, uri: 'bench-13.ts', durationS: 1.96 },
  ]);
});

void test('scanPlaylistAfter() finds the same new parts as a full scan, for every known part', () => {
  fc.assert(
    fc.property(
      fc.nat(1000),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 6 }),
      fc.nat(5),
      (mediaSequence, complete, perSegment, open) => {
        const text = llPlaylist({ mediaSequence, complete, perSegment, open });
        const full = scanPlaylist(text);
        for (const [i, known] of full.parts.entries()) {
          const tail = scanPlaylistAfter(text, known);
          assert.ok(tail !== null);
          assert.deepEqual(tail.parts, full.parts.slice(i + 1));
          assert.deepEqual(tail.next, full.next);
        }
      },
    ),
  );
});

void test('scanPlaylistAfter() returns null when the part is not listed', () => {
  const text = llPlaylist({ mediaSequence: 5, complete: 1, perSegment: 2, open: 1 });
  const gone: ListedPart = {
    msn: 1,
    index: 0,
    uri: 's/abc-1.0.m4s',
    durationS: 0.2,
    independent: true,
  };
  assert.equal(scanPlaylistAfter(text, gone), null);
  // Named only by the preload hint: not a listed part.
  const hinted: ListedPart = {
    msn: 6,
    index: 1,
    uri: 's/abc-6.1.m4s',
    durationS: 0.2,
    independent: false,
  };
  assert.equal(scanPlaylistAfter(text, hinted), null);
});

void test('attributeValue() reads quoted and plain values and skips quoted commas', () => {
  const line = '#EXT-X-PART:DURATION=0.20000,URI="a,b=c.m4s",INDEPENDENT=YES';
  assert.equal(attributeValue(line, 'DURATION'), '0.20000');
  assert.equal(attributeValue(line, 'URI'), 'a,b=c.m4s');
  assert.equal(attributeValue(line, 'INDEPENDENT'), 'YES');
  assert.equal(attributeValue(line, 'GAP'), null);
  assert.equal(attributeValue('#EXT-X-MAP:URI="unterminated', 'URI'), null);
});

const part = (msn: number, index: number, independent: boolean): ListedPart => ({
  msn,
  index,
  uri: `${msn}.${index}`,
  durationS: 0.2,
  independent,
});

void test('llStartIndex() starts on the latest independent part at least the hold-back from the end', () => {
  const parts = [
    part(1, 0, true),
    part(1, 1, false),
    part(1, 2, false),
    part(1, 3, false),
    part(2, 0, true),
    part(2, 1, false),
    part(2, 2, false),
  ];
  assert.equal(llStartIndex(parts, 0.6), 4); // 2.0 .. 2.2: 0.6 s
  assert.equal(llStartIndex(parts, 0.7), 0); // 2.0 is too close: back to 1.0
  assert.equal(llStartIndex(parts.slice(4, 6), 0.6), 0); // none far enough: the earliest
  assert.equal(llStartIndex([part(3, 1, false)], 0.6), 0);
  assert.equal(llStartIndex([], 0.6), -1);
});

void test('comparePart() orders by media sequence, then part index', () => {
  assert.ok(comparePart({ msn: 1, index: 9 }, { msn: 2, index: 0 }) < 0);
  assert.ok(comparePart({ msn: 2, index: 1 }, { msn: 2, index: 0 }) > 0);
  assert.equal(comparePart({ msn: 2, index: 1 }, { msn: 2, index: 1 }), 0);
});

void test('resolvePath() resolves relative, absolute-path and absolute URIs against the playlist', () => {
  assert.equal(resolvePath('/live/bench.m3u8', 'bench/x-1.2.m4s'), '/live/bench/x-1.2.m4s');
  assert.equal(resolvePath('/hls/bench.m3u8?token=1', 'bench-3.ts'), '/hls/bench-3.ts');
  assert.equal(resolvePath('/live/bench.m3u8', '/other/a.ts'), '/other/a.ts');
  assert.equal(resolvePath('/live/bench.m3u8', 'http://127.0.0.1:8/x/a.ts?k=v'), '/x/a.ts?k=v');
});
