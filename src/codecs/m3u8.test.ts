// Tests for the HLS playlist writer: every playlist written is read back with hls-parser, whose
// RFC 8216bis checks run in non-strict mode with their complaints collected and asserted empty.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import HLS from 'hls-parser';
import { encodeMediaPlaylist, encodeMultivariantPlaylist, parseHlsQuery } from './m3u8.ts';
import type { HlsPart, HlsSegment, MediaPlaylist } from './m3u8.ts';

type Parsed = ReturnType<typeof HLS.parse>;
type ParsedMedia = Extract<Parsed, { isMasterPlaylist: false }>;
type ParsedMaster = Extract<Parsed, { isMasterPlaylist: true }>;

/** hls-parser allows parts on the last 3 segments (the pending one included); RFC 8216bis 6.2.2
 * speaks of three target durations, which the writer follows and `assertPartRetention` checks. */
const PART_COUNT_HEURISTIC = 'Remove EXT-X-PART tags';

function readPlaylist(text: string, tolerated: readonly string[]): Parsed {
  const problems: string[] = [];
  HLS.setOptions({ strictMode: false, silent: false });
  const spy = mock.method(console, 'error', (message: unknown) => {
    problems.push(String(message));
  });
  let parsed: Parsed;
  try {
    parsed = HLS.parse(text);
  } finally {
    spy.mock.restore();
  }
  const unexpected = problems.filter((problem) => !tolerated.some((t) => problem.includes(t)));
  assert.deepEqual(unexpected, [], text);
  return parsed;
}

function readMedia(text: string, tolerated: readonly string[] = []): ParsedMedia {
  const parsed = readPlaylist(text, tolerated);
  if (parsed.isMasterPlaylist) assert.fail('expected a media playlist');
  return parsed;
}

function readMaster(text: string): ParsedMaster {
  const parsed = readPlaylist(text, []);
  if (!parsed.isMasterPlaylist) assert.fail('expected a multivariant playlist');
  return parsed;
}

/** Complete segments: hls-parser files the pending parts and the hint under a segment with no URI. */
function complete(parsed: ParsedMedia): ParsedMedia['segments'] {
  return parsed.segments.filter((segment) => segment.uri !== '');
}

/** hls-parser leaves `map` null before the first EXT-X-MAP, whatever its types say. */
function mapUriOf(segment: ParsedMedia['segments'][number]): string | undefined {
  return (segment.map as { uri: string } | null)?.uri;
}

function linesOf(text: string): string[] {
  return text.split('\n');
}

const part = (uri: string, durationS: number, independent = false): HlsPart => ({
  uri,
  durationS,
  independent,
});

/** Segment `i` of 2 s made of four 0.5 s parts, the first independent. */
function llSegment(i: number, extra: Partial<HlsSegment> = {}): HlsSegment {
  const parts = [0, 1, 2, 3].map((p) => part(`seg${i}.${p}.m4s`, 0.5, p === 0));
  return { uri: `seg${i}.m4s`, durationS: 2, parts, ...extra };
}

function llPlaylist(count: number, extra: Partial<MediaPlaylist> = {}): MediaPlaylist {
  return {
    targetDurationS: 2,
    mediaSequence: 100,
    discontinuitySequence: 0,
    segments: Array.from({ length: count }, (_, i) => llSegment(100 + i)),
    partTargetS: 0.5,
    partialSegment: { parts: [part(`seg${100 + count}.0.m4s`, 0.5, true)] },
    serverControl: { canBlockReload: true, canSkipUntilS: 12 },
    preloadHint: { uri: `seg${100 + count}.1.m4s` },
    ...extra,
  };
}

const T0_MS = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

test('encodeMediaPlaylist() writes a live playlist with sequences, durations and dates', () => {
  const text = encodeMediaPlaylist({
    targetDurationS: 6,
    mediaSequence: 42,
    discontinuitySequence: 3,
    segments: [
      { uri: 'a.ts', durationS: 5.96, programDateTimeMs: T0_MS },
      { uri: 'b.ts', durationS: 6.0, discontinuity: true, programDateTimeMs: T0_MS + 60_000 },
      { uri: 'c.ts', durationS: 4.004 },
    ],
  });
  const parsed = readMedia(text);
  assert.equal(parsed.version, 3);
  assert.equal(parsed.targetDuration, 6);
  assert.equal(parsed.mediaSequenceBase, 42);
  assert.equal(parsed.discontinuitySequenceBase, 3);
  assert.equal(parsed.endlist, false);
  assert.deepEqual(
    parsed.segments.map((s) => [s.uri, s.duration, s.mediaSequenceNumber, s.discontinuitySequence]),
    [
      ['a.ts', 5.96, 42, 3],
      ['b.ts', 6, 43, 4],
      ['c.ts', 4.004, 44, 4],
    ],
  );
  assert.equal(parsed.segments[0]?.programDateTime?.getTime(), T0_MS);
  assert.ok(text.includes('#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.678Z\n'));
  assert.equal(parsed.segments[2]?.programDateTime, undefined);
  assert.ok(text.endsWith('c.ts\n'));
  assert.ok(!text.includes('SERVER-CONTROL'));
});

test('encodeMediaPlaylist() writes EXT-X-ENDLIST and EXT-X-INDEPENDENT-SEGMENTS when asked', () => {
  const segments = [{ uri: 'a.ts', durationS: 2 }];
  const base = { targetDurationS: 2, mediaSequence: 0, discontinuitySequence: 0, segments };
  const ended = readMedia(
    encodeMediaPlaylist({ ...base, endList: true, independentSegments: true }),
  );
  assert.equal(ended.endlist, true);
  assert.equal(ended.independentSegments, true);
  const live = readMedia(encodeMediaPlaylist(base));
  assert.equal(live.endlist, false);
  assert.equal(live.independentSegments, false);
});

test('encodeMediaPlaylist() writes EXT-X-MAP only when the init section changes, at version 6', () => {
  const text = encodeMediaPlaylist({
    targetDurationS: 2,
    mediaSequence: 0,
    discontinuitySequence: 0,
    segments: [
      { uri: 's0.m4s', durationS: 2, mapUri: 'init0.mp4' },
      { uri: 's1.m4s', durationS: 2, mapUri: 'init0.mp4' },
      { uri: 's2.m4s', durationS: 2 },
      { uri: 's3.m4s', durationS: 2, mapUri: 'init1.mp4', discontinuity: true },
    ],
  });
  assert.deepEqual(
    linesOf(text).filter((line) => line.startsWith('#EXT-X-MAP')),
    ['#EXT-X-MAP:URI="init0.mp4"', '#EXT-X-MAP:URI="init1.mp4"'],
  );
  const parsed = readMedia(text);
  assert.equal(parsed.version, 6);
  assert.deepEqual(
    parsed.segments.map((s) => s.map.uri),
    ['init0.mp4', 'init0.mp4', 'init0.mp4', 'init1.mp4'],
  );
});

test('encodeMediaPlaylist() writes an EXTINF that never rounds above the duration given', () => {
  const text = encodeMediaPlaylist({
    targetDurationS: 2,
    mediaSequence: 0,
    discontinuitySequence: 0,
    segments: [
      { uri: 'a.ts', durationS: 2.499996 },
      { uri: 'b.ts', durationS: 1.4999999 },
      { uri: 'c.ts', durationS: 2.4 },
    ],
  });
  assert.deepEqual(
    linesOf(text).filter((line) => line.startsWith('#EXTINF')),
    ['#EXTINF:2.49999,', '#EXTINF:1.49999,', '#EXTINF:2.40000,'],
  );
  readMedia(text);
});

test('encodeMediaPlaylist() writes LL-HLS parts before their EXTINF, the hint and reports', () => {
  const playlist = llPlaylist(3, {
    renditionReports: [
      { uri: '../audio/index.m3u8', lastMsn: 102, lastPart: 0 },
      { uri: '../video/index.m3u8', lastMsn: 103 },
    ],
  });
  const text = encodeMediaPlaylist(playlist);
  const parsed = readMedia(text);
  assert.equal(parsed.version, 3);
  assert.equal(parsed.partTargetDuration, 0.5);
  assert.deepEqual(parsed.lowLatencyCompatibility, {
    canBlockReload: true,
    canSkipUntil: 12,
    holdBack: undefined,
    partHoldBack: 1.5,
  });
  const segments = complete(parsed);
  assert.deepEqual(
    segments.map((s) => s.uri),
    ['seg100.m4s', 'seg101.m4s', 'seg102.m4s'],
  );
  // With 0.5 s pending, seg102 starts 2.5 s, seg101 4.5 s and seg100 6.5 s (> 3 x 2 s) before the end.
  assert.deepEqual(
    segments.map((s) => s.parts.length),
    [0, 4, 4],
  );
  assert.deepEqual(
    segments[1]?.parts.map((p) => [p.uri, p.duration, p.independent ?? false]),
    [
      ['seg101.0.m4s', 0.5, true],
      ['seg101.1.m4s', 0.5, false],
      ['seg101.2.m4s', 0.5, false],
      ['seg101.3.m4s', 0.5, false],
    ],
  );
  const pending = parsed.segments.at(-1);
  assert.equal(pending?.uri, '');
  assert.deepEqual(
    pending.parts.map((p) => [p.uri, p.hint, p.independent ?? false]),
    [
      ['seg103.0.m4s', false, true],
      ['seg103.1.m4s', true, false],
    ],
  );
  assert.deepEqual(
    parsed.renditionReports.map((r) => [r.uri, r.lastMSN]),
    [
      ['../audio/index.m3u8', 102],
      ['../video/index.m3u8', 103],
    ],
  );
  // hls-parser fills in a missing LAST-PART, so read that one from the text.
  assert.ok(
    text.includes('\n#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=102,LAST-PART=0\n'),
  );
  assert.ok(text.includes('\n#EXT-X-RENDITION-REPORT:URI="../video/index.m3u8",LAST-MSN=103\n'));
  assert.ok(text.includes('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg103.1.m4s"\n'));
  // The parts of seg102 are the four lines right before its EXTINF.
  const lines = linesOf(text);
  const extinf = lines.indexOf('seg102.m4s') - 1;
  assert.deepEqual(lines.slice(extinf - 4, extinf + 1), [
    '#EXT-X-PART:DURATION=0.50000,URI="seg102.0.m4s",INDEPENDENT=YES',
    '#EXT-X-PART:DURATION=0.50000,URI="seg102.1.m4s"',
    '#EXT-X-PART:DURATION=0.50000,URI="seg102.2.m4s"',
    '#EXT-X-PART:DURATION=0.50000,URI="seg102.3.m4s"',
    '#EXTINF:2.00000,',
  ]);
});

test('encodeMediaPlaylist() lists parts only for segments starting within 3 target durations', () => {
  const text = encodeMediaPlaylist(llPlaylist(10, { partialSegment: { parts: [] } }));
  const segments = complete(readMedia(text, [PART_COUNT_HEURISTIC]));
  // No pending parts: seg107 starts exactly 6 s (3 x 2 s) before the end and keeps its parts.
  assert.deepEqual(
    segments.map((s) => s.parts.length),
    [0, 0, 0, 0, 0, 0, 0, 4, 4, 4],
  );
  const longer = encodeMediaPlaylist(llPlaylist(10));
  assert.deepEqual(
    complete(readMedia(longer)).map((s) => s.parts.length),
    [0, 0, 0, 0, 0, 0, 0, 0, 4, 4],
  );
});

test('encodeMediaPlaylist() raises hold backs and the skip boundary to their minimums', () => {
  const text = encodeMediaPlaylist(
    llPlaylist(3, {
      targetDurationS: 2,
      partTargetS: 0.33334,
      serverControl: { canBlockReload: true, partHoldBackS: 0.5, canSkipUntilS: 1, holdBackS: 2 },
      segments: [],
      partialSegment: { parts: [part('p0.m4s', 0.33334, true)] },
    }),
  );
  const control = readMedia(text).lowLatencyCompatibility;
  assert.equal(control?.canSkipUntil, 12);
  assert.equal(control.holdBack, 6);
  assert.equal(control.partHoldBack, 1.00002);
  assert.ok(text.includes('#EXT-X-PART-INF:PART-TARGET=0.33334\n'));
  const generous = encodeMediaPlaylist(
    llPlaylist(3, { serverControl: { canBlockReload: false, partHoldBackS: 2.25 } }),
  );
  assert.ok(generous.includes('#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=2.25000\n'), generous);
});

test('encodeMediaPlaylist() writes PART-HOLD-BACK for LL-HLS even without serverControl', () => {
  const { serverControl, ...noControl } = llPlaylist(2);
  assert.ok(serverControl, 'the fixture has one to take away');
  const text = encodeMediaPlaylist(noControl);
  assert.ok(text.includes('#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=1.50000\n'), text);
});

test('encodeMediaPlaylist() writes no part, pending part or hint without partTargetS', () => {
  const { partTargetS, ...plain } = llPlaylist(3);
  assert.equal(partTargetS, 0.5, 'the fixture is LL-HLS until partTargetS is taken away');
  const text = encodeMediaPlaylist(plain);
  assert.ok(!text.includes('#EXT-X-PART'), text);
  assert.ok(!text.includes('PRELOAD-HINT'), text);
  assert.equal(readMedia(text).segments.length, 3);
});

test('encodeMediaPlaylist() drops the preload hint once the playlist ends', () => {
  const text = encodeMediaPlaylist(llPlaylist(3, { endList: true, partialSegment: { parts: [] } }));
  assert.ok(!text.includes('PRELOAD-HINT'), text);
  const parsed = readMedia(text);
  assert.equal(parsed.endlist, true);
  assert.equal(parsed.segments.length, 3);
});

test('encodeMediaPlaylist() writes the pending segment tags before its first part', () => {
  const text = encodeMediaPlaylist(
    llPlaylist(2, {
      segments: [llSegment(100, { mapUri: 'init0.mp4' }), llSegment(101)],
      partialSegment: {
        parts: [part('seg102.0.m4s', 0.5, true)],
        discontinuity: true,
        mapUri: 'init1.mp4',
        programDateTimeMs: T0_MS,
      },
    }),
  );
  const lines = linesOf(text);
  const first = lines.indexOf('#EXT-X-PART:DURATION=0.50000,URI="seg102.0.m4s",INDEPENDENT=YES');
  assert.deepEqual(lines.slice(first - 3, first), [
    '#EXT-X-DISCONTINUITY',
    '#EXT-X-MAP:URI="init1.mp4"',
    '#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.678Z',
  ]);
  readMedia(text);
});

test('encodeMediaPlaylist() with skip replaces old segments by EXT-X-SKIP and restates state', () => {
  const segments = Array.from({ length: 12 }, (_, i) =>
    llSegment(100 + i, {
      ...(i === 0 ? { programDateTimeMs: T0_MS, mapUri: 'init0.mp4' } : {}),
      ...(i === 2 ? { discontinuity: true } : {}),
      ...(i === 7 ? { mapUri: 'init1.mp4' } : {}),
    }),
  );
  const playlist = llPlaylist(12, { segments, discontinuitySequence: 5 });
  const full = readMedia(encodeMediaPlaylist(playlist));
  const deltaText = encodeMediaPlaylist(playlist, { deltaUpdate: true });
  const delta = readMedia(deltaText);
  // Segment i ends (11 - i) x 2 s before the end; more than 12 s for i < 5.
  assert.equal(delta.skip, 5);
  assert.equal(delta.version, 9);
  assert.ok(deltaText.includes('\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n'));
  assert.equal(delta.mediaSequenceBase, 100);
  assert.equal(delta.discontinuitySequenceBase, 6, 'the skipped discontinuity is counted');
  const kept = complete(delta);
  assert.equal(kept[0]?.uri, 'seg105.m4s');
  assert.equal(kept[0].mediaSequenceNumber, 105);
  assert.equal(kept[0].map.uri, 'init0.mp4', 'EXT-X-MAP restated');
  assert.equal(kept[0].programDateTime?.getTime(), T0_MS + 10_000, 'PDT derived and restated');
  const fullKept = complete(full).slice(5);
  assert.deepEqual(
    kept.map((s) => [s.uri, s.mediaSequenceNumber, s.discontinuitySequence, s.map.uri]),
    fullKept.map((s) => [s.uri, s.mediaSequenceNumber, s.discontinuitySequence, s.map.uri]),
  );
  assert.deepEqual(
    delta.segments.map((s) => s.parts.map((p) => p.uri)),
    full.segments.slice(5).map((s) => s.parts.map((p) => p.uri)),
  );
  assert.equal(full.version, 6);
  assert.equal(full.skip, 0);
});

test('encodeMediaPlaylist() ignores skip without CAN-SKIP-UNTIL, after ENDLIST or with nothing old', () => {
  const noBoundary = llPlaylist(12, { serverControl: { canBlockReload: true } });
  assert.equal(
    encodeMediaPlaylist(noBoundary, { deltaUpdate: true }),
    encodeMediaPlaylist(noBoundary),
  );
  const ended = llPlaylist(12, { endList: true });
  assert.equal(encodeMediaPlaylist(ended, { deltaUpdate: true }), encodeMediaPlaylist(ended));
  const short = llPlaylist(6);
  assert.equal(encodeMediaPlaylist(short, { deltaUpdate: true }), encodeMediaPlaylist(short));
  assert.ok(!encodeMediaPlaylist(short, { deltaUpdate: true }).includes('EXT-X-SKIP'));
});

test('encodeMediaPlaylist() percent-encodes quotes, line breaks and a leading # in URIs', () => {
  const text = encodeMediaPlaylist({
    targetDurationS: 2,
    mediaSequence: 0,
    discontinuitySequence: 0,
    segments: [
      { uri: 'a b".ts\n#EXT-X-ENDLIST', durationS: 2, mapUri: 'i"nit\r.mp4' },
      { uri: '#x.ts', durationS: 2 },
    ],
  });
  assert.ok(!linesOf(text).includes('#EXT-X-ENDLIST'), text);
  const parsed = readMedia(text);
  assert.equal(parsed.endlist, false);
  assert.deepEqual(
    parsed.segments.map((s) => s.uri),
    ['a%20b%22.ts%0A#EXT-X-ENDLIST', '%23x.ts'],
  );
  assert.equal(parsed.segments[0]?.map.uri, 'i%22nit%0D.mp4');
});

test('encodeMediaPlaylist() skips a date outside the ECMAScript range and never throws', () => {
  const text = encodeMediaPlaylist({
    targetDurationS: Number.NaN,
    mediaSequence: -3,
    discontinuitySequence: Number.POSITIVE_INFINITY,
    segments: [
      { uri: 'a.ts', durationS: Number.NaN, programDateTimeMs: 1e20 },
      { uri: 'b.ts', durationS: -1, programDateTimeMs: Number.NaN },
    ],
  });
  assert.ok(!text.includes('PROGRAM-DATE-TIME'), text);
  const parsed = readMedia(text);
  assert.equal(parsed.targetDuration, 1);
  assert.equal(parsed.mediaSequenceBase, 0);
  assert.deepEqual(
    parsed.segments.map((s) => s.duration),
    [0, 0],
  );
});

test('encodeMultivariantPlaylist() writes one EXT-X-STREAM-INF per variant, in order', () => {
  const text = encodeMultivariantPlaylist([
    {
      uri: 'hi/index.m3u8',
      bandwidth: 4_500_000,
      codecs: 'avc1.64001f,mp4a.40.2',
      resolution: { width: 1280, height: 720 },
      frameRate: 29.97,
    },
    { uri: 'audio/index.m3u8', bandwidth: 128_000.4, codecs: 'mp4a.40.2' },
  ]);
  assert.ok(text.includes('FRAME-RATE=29.970'), text);
  const parsed = readMaster(text);
  assert.deepEqual(
    parsed.variants.map((v) => [v.uri, v.bandwidth, v.codecs, v.resolution, v.frameRate]),
    [
      ['hi/index.m3u8', 4_500_000, 'avc1.64001f,mp4a.40.2', { width: 1280, height: 720 }, 29.97],
      ['audio/index.m3u8', 128_000, 'mp4a.40.2', undefined, undefined],
    ],
  );
});

test('encodeMultivariantPlaylist() writes the audio group its variants name (EXT-X-MEDIA)', () => {
  const text = encodeMultivariantPlaylist(
    [
      {
        uri: 'a.m3u8?variant=video',
        bandwidth: 3e6,
        codecs: 'avc1.64001f,mp4a.40.2',
        audio: 'aud',
      },
      {
        uri: 'a_240p.m3u8?variant=video',
        bandwidth: 5e5,
        codecs: 'avc1.4d400d,mp4a.40.2',
        audio: 'aud',
      },
    ],
    [{ groupId: 'aud', name: 'main', uri: 'a.m3u8?variant=audio', channels: 2 }],
  );
  const parsed = readMaster(text);
  assert.equal(parsed.variants.length, 2);
  for (const variant of parsed.variants) {
    assert.deepEqual(
      variant.audio.map((a) => [
        a.type,
        a.groupId,
        a.name,
        a.uri,
        a.isDefault,
        a.autoselect,
        a.channels,
      ]),
      [['AUDIO', 'aud', 'main', 'a.m3u8?variant=audio', true, true, '2']],
    );
  }
  // The rendition comes before the variants that name it.
  assert.ok(text.indexOf('#EXT-X-MEDIA:') < text.indexOf('#EXT-X-STREAM-INF:'), text);
});

const queryCases: readonly [string, ReturnType<typeof parseHlsQuery> | 'error'][] = [
  ['', { skip: null }],
  ['_HLS_msn=5&_HLS_part=2', { msn: 5, part: 2, skip: null }],
  ['_HLS_msn=5', { msn: 5, skip: null }],
  ['_HLS_msn=0&_HLS_part=0&_HLS_skip=YES', { msn: 0, part: 0, skip: 'YES' }],
  ['_HLS_skip=v2', { skip: 'v2' }],
  ['_HLS_msn=007', { msn: 7, skip: null }],
  ['_HLS_msn=9007199254740991', { msn: Number.MAX_SAFE_INTEGER, skip: null }],
  ['token=abc&_HLS_msn=1', { msn: 1, skip: null }],
  ['_HLS_part=2', 'error'],
  ['_HLS_msn=abc', 'error'],
  ['_HLS_msn=-1', 'error'],
  ['_HLS_msn=+1', 'error'],
  ['_HLS_msn=1.5', 'error'],
  ['_HLS_msn=1e3', 'error'],
  ['_HLS_msn=', 'error'],
  ['_HLS_msn=%201', 'error'],
  ['_HLS_msn=9007199254740992', 'error'],
  ['_HLS_msn=99999999999999999999999', 'error'],
  ['_HLS_msn=5&_HLS_part=x', 'error'],
  ['_HLS_msn=5&_HLS_part=-1', 'error'],
  ['_HLS_msn=1&_HLS_msn=2', 'error'],
  ['_HLS_skip=yes', 'error'],
  ['_HLS_skip=', 'error'],
  ['_HLS_skip=YES&_HLS_skip=YES', 'error'],
];

test('parseHlsQuery() reads valid directives and rejects malformed ones', () => {
  for (const [query, expected] of queryCases) {
    const result = parseHlsQuery(new URLSearchParams(query));
    if (expected === 'error') {
      assert.ok(
        'error' in result && result.error.length > 0,
        `${query}: ${JSON.stringify(result)}`,
      );
    } else {
      assert.deepEqual(result, expected, query);
    }
  }
});

test('parseHlsQuery() returns any safe msn and part, and an error for anything not digits', () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), fc.maxSafeNat(), (msn, partIndex) => {
      const query = new URLSearchParams({ _HLS_msn: String(msn), _HLS_part: String(partIndex) });
      assert.deepEqual(parseHlsQuery(query), { msn, part: partIndex, skip: null });
    }),
  );
  fc.assert(
    fc.property(
      fc.string().filter((s) => !/^[0-9]+$/.test(s)),
      (text) => {
        assert.ok('error' in parseHlsQuery(new URLSearchParams({ _HLS_msn: text })));
      },
    ),
  );
});

// ---- Property tests -------------------------------------------------------------------------

const arbDateMs = fc.option(fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }), { nil: undefined });
const arbMapUri = fc.option(fc.constantFrom('init0.mp4', 'init1.mp4'), { nil: undefined });

function withOptional(segment: HlsSegment, dateMs?: number, mapUri?: string): HlsSegment {
  return {
    ...segment,
    ...(dateMs === undefined ? {} : { programDateTimeMs: dateMs }),
    ...(mapUri === undefined ? {} : { mapUri }),
  };
}

/** Plain playlists whose durations respect the target, with some just under a .5 boundary. */
const arbPlainPlaylist = fc.integer({ min: 1, max: 10 }).chain((targetS) =>
  fc.record({
    targetDurationS: fc.constant(targetS),
    mediaSequence: fc.nat(),
    discontinuitySequence: fc.nat(),
    endList: fc.boolean(),
    segments: fc.array(
      fc
        .tuple(
          fc.oneof(
            fc.double({ min: 0.001, max: targetS + 0.49, noNaN: true }),
            fc.double({ min: targetS + 0.499995, max: targetS + 0.4999999, noNaN: true }),
            fc.constant(targetS),
          ),
          fc.boolean(),
          arbDateMs,
          arbMapUri,
        )
        .map(([durationS, discontinuity, dateMs, mapUri]) =>
          withOptional({ uri: 'x.ts', durationS, discontinuity }, dateMs, mapUri),
        ),
      { minLength: 1, maxLength: 30 },
    ),
  }),
);

test('encodeMediaPlaylist() property: a valid playlist with every segment, in order', () => {
  fc.assert(
    fc.property(arbPlainPlaylist, (input) => {
      const segments = input.segments.map((s, i) => ({ ...s, uri: `s${i}.ts` }));
      const text = encodeMediaPlaylist({ ...input, segments });
      for (const line of linesOf(text).filter((l) => l.startsWith('#EXTINF:'))) {
        assert.ok(Math.round(Number.parseFloat(line.slice(8))) <= input.targetDurationS, line);
      }
      const parsed = readMedia(text);
      let discontinuitySequence = input.discontinuitySequence;
      let mapUri: string | undefined;
      parsed.segments.forEach((got, i) => {
        const want = segments[i]!;
        if (want.discontinuity === true) discontinuitySequence++;
        mapUri = want.mapUri ?? mapUri;
        assert.equal(got.uri, want.uri);
        assert.ok(Math.abs(got.duration - want.durationS) <= 1.1e-5, `${got.duration}`);
        assert.equal(got.mediaSequenceNumber, input.mediaSequence + i);
        assert.equal(got.discontinuitySequence, discontinuitySequence);
        assert.equal(got.programDateTime?.getTime(), want.programDateTimeMs);
        assert.equal(mapUriOf(got), mapUri);
      });
      assert.equal(parsed.segments.length, segments.length);
      assert.equal(parsed.endlist, input.endList);
    }),
    { numRuns: 300 },
  );
});

/** Parts of a part target, the non-last ones at least 86 % of it (hls-parser wants 85 %). */
function arbParts(partTargetS: number, count: { min: number; max: number }, last: boolean) {
  const full = fc.double({ min: 0.86 * partTargetS, max: partTargetS, noNaN: true });
  const tail = fc.double({ min: 0.01, max: partTargetS, noNaN: true });
  return fc
    .tuple(fc.array(full, { minLength: count.min, maxLength: count.max }), tail)
    .map(([durations, tailS]) => (last ? [...durations, tailS] : durations))
    .map((durations) => durations.map((durationS, p) => ({ durationS, independent: p === 0 })));
}

const arbLowLatencyPlaylist = fc.constantFrom(0.25, 0.33334, 0.5, 1).chain((partTargetS) => {
  const targetS = Math.ceil(4 * partTargetS);
  const arbSegment = fc
    .tuple(arbParts(partTargetS, { min: 0, max: 3 }, true), fc.boolean(), arbDateMs, arbMapUri)
    .map(([parts, discontinuity, dateMs, mapUri]) => {
      const durationS = parts.reduce((sum, p) => sum + p.durationS, 0);
      return withOptional(
        { uri: '', durationS, discontinuity, parts: parts.map((p) => ({ ...p, uri: '' })) },
        dateMs,
        mapUri,
      );
    });
  return fc.record({
    targetDurationS: fc.constant(targetS),
    partTargetS: fc.constant(partTargetS),
    mediaSequence: fc.nat({ max: 1_000_000 }),
    discontinuitySequence: fc.nat({ max: 1000 }),
    segments: fc.array(arbSegment, { minLength: 1, maxLength: 40 }),
    pendingParts: arbParts(partTargetS, { min: 0, max: 3 }, false),
    canSkipUntilS: fc.double({ min: 0, max: 10 * targetS, noNaN: true }),
    endList: fc.oneof(
      { arbitrary: fc.constant(false), weight: 4 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
  });
});

test('encodeMediaPlaylist() property: a delta update keeps the live edge and counts the skip', () => {
  fc.assert(
    fc.property(arbLowLatencyPlaylist, (input) => {
      const msn = (i: number) => input.mediaSequence + i;
      const segments = input.segments.map((s, i) => ({
        ...s,
        uri: `s${msn(i)}.m4s`,
        parts: (s.parts ?? []).map((p, j) => ({ ...p, uri: `s${msn(i)}.${j}.m4s` })),
      }));
      const next = msn(segments.length);
      const playlist: MediaPlaylist = {
        targetDurationS: input.targetDurationS,
        mediaSequence: input.mediaSequence,
        discontinuitySequence: input.discontinuitySequence,
        segments,
        partTargetS: input.partTargetS,
        partialSegment: {
          parts: input.pendingParts.map((p, j) => ({ ...p, uri: `s${next}.${j}.m4s` })),
        },
        preloadHint: { uri: `s${next}.${input.pendingParts.length}.m4s` },
        serverControl: { canBlockReload: true, canSkipUntilS: input.canSkipUntilS },
        renditionReports: [{ uri: '../a/index.m3u8', lastMsn: next, lastPart: 0 }],
        endList: input.endList,
      };
      const fullText = encodeMediaPlaylist(playlist);
      const deltaText = encodeMediaPlaylist(playlist, { deltaUpdate: true });
      const full = readMedia(fullText, [PART_COUNT_HEURISTIC]);
      const delta = readMedia(deltaText, [PART_COUNT_HEURISTIC]);

      // Reference: segments ending more than the boundary before the end of the last one.
      const boundaryS = Math.max(input.canSkipUntilS, 6 * input.targetDurationS);
      let expectedSkip = 0;
      for (let i = 0; i < segments.length; i++) {
        const afterS = segments.slice(i + 1).reduce((sum, s) => sum + s.durationS, 0);
        if (afterS > boundaryS && !input.endList) expectedSkip = i + 1;
      }
      assert.equal(delta.skip, expectedSkip);
      assert.equal(deltaText.includes('#EXT-X-SKIP'), expectedSkip > 0);
      assert.equal(delta.version, expectedSkip > 0 ? 9 : full.version);

      const fullSegments = complete(full);
      const deltaSegments = complete(delta);
      assert.equal(deltaSegments.length, segments.length - expectedSkip);
      assert.deepEqual(deltaSegments.at(-1)?.uri, fullSegments.at(-1)?.uri);
      const view = (s: ParsedMedia['segments'][number]) => [
        s.uri,
        s.duration,
        s.mediaSequenceNumber,
        s.discontinuitySequence,
        mapUriOf(s),
        s.parts.map((p) => [p.uri, p.duration, p.independent ?? false]),
      ];
      assert.deepEqual(deltaSegments.map(view), fullSegments.slice(expectedSkip).map(view));
      const partLines = (text: string) =>
        linesOf(text).filter((l) => l.startsWith('#EXT-X-PART:') || l.startsWith('#EXT-X-PRELOAD'));
      assert.deepEqual(partLines(deltaText), partLines(fullText));

      // Every segment listed with parts starts within three target durations of the end.
      const pendingS = input.pendingParts.reduce((sum, p) => sum + p.durationS, 0);
      fullSegments.forEach((s, i) => {
        const startS = pendingS + segments.slice(i).reduce((sum, seg) => sum + seg.durationS, 0);
        const listed = startS <= 3 * input.targetDurationS && (segments[i]?.parts.length ?? 0) > 0;
        assert.equal(s.parts.length > 0, listed, `segment ${i} starts ${startS} s from the end`);
      });
    }),
    { numRuns: 300 },
  );
});
