import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HlsHandler } from './hls-handler.ts';
import { hasPart, playlistCacheControl, requestKind, type HlsTarget } from './hls-requests.ts';
import { feedVideo, makeSegmenter, testTracks } from '../../../test/support/hls-test-window.ts';

test('HlsHandler.parseTarget() reads playlist, init and media URLs', () => {
  const cases: [string, HlsTarget][] = [
    ['/live/a.m3u8', { kind: 'playlist', path: 'live/a', prefix: 'a/' }],
    ['/live/a/index.m3u8', { kind: 'playlist', path: 'live/a', prefix: '' }],
    ['/a.m3u8', { kind: 'playlist', path: 'a', prefix: 'a/' }],
    ['/live/a/0123abcd-init2.mp4', { kind: 'init', path: 'live/a', id: '0123abcd', version: 2 }],
    [
      '/live/a/0123abcd-12.m4s',
      { kind: 'media', path: 'live/a', id: '0123abcd', msn: 12, part: null, container: 'fmp4' },
    ],
    [
      '/live/a/0123abcd-12.3.m4s',
      { kind: 'media', path: 'live/a', id: '0123abcd', msn: 12, part: 3, container: 'fmp4' },
    ],
    [
      '/live/a/0123abcd-0.ts',
      { kind: 'media', path: 'live/a', id: '0123abcd', msn: 0, part: null, container: 'mpegts' },
    ],
    [
      '/live/a/0123abcd-7.0.ts',
      { kind: 'media', path: 'live/a', id: '0123abcd', msn: 7, part: 0, container: 'mpegts' },
    ],
    [
      '/app/room/cam/ffffffff-123456789012.m4s',
      {
        kind: 'media',
        path: 'app/room/cam',
        id: 'ffffffff',
        msn: 123456789012,
        part: null,
        container: 'fmp4',
      },
    ],
  ];
  for (const [path, expected] of cases) {
    assert.deepEqual(HlsHandler.parseTarget(path), expected, path);
  }
});

test('HlsHandler.parseTarget() returns null for names that are not HLS media of a stream', () => {
  for (const path of [
    '/live/a/x.mp4',
    '/live/a/0123ABCD-12.m4s', // uppercase hex
    '/live/a/-12.m4s', // missing id
    '/live/a/12.m4s',
    '/live/a/0123abc-12.m4s', // 7 hex digits
    '/live/a/0123abcde-12.m4s', // 9 hex digits
    '/live/a/0123abcd-init.mp4',
    '/live/a/0123abcd-init2.m4s',
    '/live/a/0123abcd-12.mp4',
    '/live/a/0123abcd-12.3.4.m4s',
    '/live/a/0123abcd-1234567890123.m4s', // 13-digit msn
    '/live/a/0123abcd-12.1234567.m4s', // 7-digit part
    '/live/a/0123abcd--1.m4s',
    '/live/a/0123abcd-12.m4s.bak',
    '/0123abcd-12.m4s', // no stream path
    '/live/a/0123abcd-12.m4s/',
    '/live/a',
    '/',
  ]) {
    assert.equal(HlsHandler.parseTarget(path), null, path);
  }
});

/** A low-latency segmenter fed `frames` frames at 25 fps with a keyframe every second. */
function fedSegmenter(frames: number, windowSegments = 100): ReturnType<typeof makeSegmenter> {
  const under = makeSegmenter('low-latency', { windowSegments });
  under.segmenter.onTracks(testTracks('av'));
  feedVideo(under.segmenter, { frames, fps: 25, gop: 25, withAudio: true });
  return under;
}

test('hasPart() holds complete segments and their parts, not the next segment', () => {
  // 0-2.36 s: segments 0 and 1 complete (5 parts each), segment 2 with part 0 only.
  const { segmenter } = fedSegmenter(60);
  assert.deepEqual(
    segmenter.segments.map((s) => [s.msn, s.parts.length]),
    [
      [0, 5],
      [1, 5],
    ],
  );
  assert.equal(segmenter.current?.msn, 2);
  assert.equal(segmenter.current.parts.length, 1);
  assert.equal(hasPart(segmenter, 0, undefined), true);
  assert.equal(hasPart(segmenter, 1, undefined), true);
  assert.equal(hasPart(segmenter, 1, 0), true);
  assert.equal(hasPart(segmenter, 1, 4), true);
  assert.equal(hasPart(segmenter, 2, 0), true, 'an existing part of the segment in progress');
  assert.equal(hasPart(segmenter, 2, 1), false, 'the next part (the preload hint)');
  assert.equal(hasPart(segmenter, 2, undefined), false, 'the segment in progress is not complete');
  assert.equal(hasPart(segmenter, 3, undefined), false);
  assert.equal(hasPart(segmenter, 3, 0), false);
});

test('hasPart() reads a part past the end of a complete segment as part 0 of the next', () => {
  const { segmenter } = fedSegmenter(60);
  // Segment 1 has parts 0-4: part 5 of it is part 0 of segment 2, which exists.
  assert.equal(hasPart(segmenter, 1, 5), true);
  assert.equal(hasPart(segmenter, 1, 9), true);
  // Right after a cut the new segment has no part yet: part 5 of the last one is not there.
  const atCut = fedSegmenter(51); // the keyframe at 2.0 s closed segment 1 and opened 2
  assert.equal(atCut.segmenter.segments.at(-1)?.msn, 1);
  assert.equal(atCut.segmenter.current?.msn, 2);
  assert.equal(atCut.segmenter.current.parts.length, 0);
  assert.equal(hasPart(atCut.segmenter, 1, 4), true);
  assert.equal(hasPart(atCut.segmenter, 1, undefined), true);
  assert.equal(hasPart(atCut.segmenter, 1, 5), false);
  assert.equal(hasPart(atCut.segmenter, 2, 0), false);
});

test('hasPart() counts segments that left the window as present', () => {
  const { segmenter } = fedSegmenter(130, 2); // 5 s cut, window of 2
  assert.deepEqual(
    segmenter.segments.map((s) => s.msn),
    [3, 4],
  );
  assert.equal(segmenter.mediaSequence, 3);
  for (const msn of [0, 1, 2]) {
    assert.equal(hasPart(segmenter, msn, undefined), true, `segment ${msn}`);
    assert.equal(hasPart(segmenter, msn, 0), true, `segment ${msn} part 0`);
  }
});

test('hasPart() holds everything before the first segment starts', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  assert.equal(hasPart(segmenter, 0, undefined), false);
  assert.equal(hasPart(segmenter, 0, 0), false);
});

test('playlistCacheControl(): blocking reloads cacheable per URL, plain reloads never older than a part', () => {
  const ll = { partTargetS: 0.2, segmentTargetS: 1 };
  assert.equal(
    playlistCacheControl({ ...ll, blocking: true, authorized: false }),
    'public, max-age=6',
  );
  assert.equal(playlistCacheControl({ ...ll, blocking: false, authorized: false }), 'no-cache');
  const balanced = { partTargetS: 0.334, segmentTargetS: 2 };
  assert.equal(
    playlistCacheControl({ ...balanced, blocking: true, authorized: false }),
    'public, max-age=12',
  );
  // No parts (compatible): half a segment target, as plain HLS players poll.
  const plain = { partTargetS: null, segmentTargetS: 2 };
  assert.equal(
    playlistCacheControl({ ...plain, blocking: false, authorized: false }),
    'public, max-age=1',
  );
  // An Authorization header: never for a shared cache.
  assert.equal(
    playlistCacheControl({ ...ll, blocking: true, authorized: true }),
    'private, max-age=6',
  );
  assert.equal(
    playlistCacheControl({ ...ll, blocking: false, authorized: true }),
    'private, no-cache',
  );
  assert.equal(
    playlistCacheControl({ ...plain, blocking: false, authorized: true }),
    'private, max-age=1',
  );
});

test('requestKind(): what onair_hls_requests_total counts', () => {
  const kind = (path: string, query = ''): string => {
    const target = HlsHandler.parseTarget(path);
    assert.ok(target, path);
    return requestKind(target, new URLSearchParams(query));
  };
  assert.equal(kind('/live/a.m3u8'), 'playlist');
  assert.equal(kind('/live/a.m3u8', 'token=x&_HLS_skip=YES'), 'playlist');
  assert.equal(kind('/live/a/index.m3u8', '_HLS_msn=0'), 'blocking_playlist');
  assert.equal(kind('/live/a.m3u8', '_HLS_msn=4&_HLS_part=2'), 'blocking_playlist');
  assert.equal(kind('/live/a/0123abcd-init1.mp4'), 'init');
  assert.equal(kind('/live/a/0123abcd-12.m4s', 'hs=1.x'), 'segment');
  assert.equal(kind('/live/a/0123abcd-12.3.m4s'), 'part');
  assert.equal(kind('/live/a/0123abcd-7.ts'), 'segment');
});
