import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderPlaylist } from './hls-playlist.ts';
import { HlsWindow } from './hls-window.ts';
import { hlsProfile, type HlsProfile } from './hls-profile.ts';
import {
  feedAudio,
  feedVideo,
  fmp4Samples,
  makeSegmenter,
  type TestSegmenter,
  testTracks,
  videoFrame,
} from '../../../test/support/hls-test-window.ts';

const EPSILON = 1e-9;

/** Segment and part durations (s) and part independence of the complete segments. */
function layout(segmenter: TestSegmenter): { durationS: number; parts: [number, boolean][] }[] {
  return segmenter.segments.map((s) => ({
    durationS: Math.round(s.durationS * 1000) / 1000,
    parts: s.parts.map((p): [number, boolean] => [p.durationS, p.independent]),
  }));
}

/** Checks every duration of every segment (and the one in progress) is sane for `profile`. */
function assertSaneDurations(segmenter: TestSegmenter, profile: HlsProfile): void {
  const all = [...segmenter.segments, ...(segmenter.current ? [segmenter.current] : [])];
  for (const segment of all) {
    assert.ok(segment.durationS >= 0 && segment.durationS <= profile.maxSegmentS + EPSILON);
    let sumS = 0;
    for (const part of segment.parts) {
      assert.ok(part.durationS > 0, `msn ${segment.msn} part ${part.index}: ${part.durationS}`);
      if (profile.partTargetS !== null) {
        assert.ok(part.durationS <= profile.partTargetS + EPSILON, `${part.durationS}`);
      }
      sumS += part.durationS;
    }
    assert.ok(Math.abs(sumS - segment.durationS) < 1e-6);
  }
}

test('onFrame drops video before the first keyframe and starts every segment on a keyframe', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  for (let i = 0; i < 10; i++) segmenter.onFrame(videoFrame(i * 40, false));
  assert.equal(segmenter.current, null);
  assert.equal(segmenter.segments.length, 0);
  // Keyframes every 0.6 s: segments are cut at the first keyframe at or after 1 s.
  const { keyframeDtsMs } = feedVideo(segmenter, { fromMs: 400, frames: 200, fps: 25, gop: 15 });
  assert.equal(segmenter.segments[0]?.startDtsMs, 400);
  const starts = segmenter.segments.map((s) => s.startDtsMs);
  assert.deepEqual(starts.slice(0, 4), [400, 1600, 2800, 4000]);
  for (const start of starts) assert.ok(keyframeDtsMs.includes(start), `${start}`);
  assert.ok(layout(segmenter).every((s) => s.durationS === 1.2));
  // 10 leading inter-frames dropped, then every frame kept once.
  const videoSamples = segmenter.segments.reduce(
    (n, s) => n + (fmp4Samples(s.bytes!).get(1)?.count ?? 0),
    0,
  );
  assert.equal(videoSamples, segmenter.segments.length * 30);
});

test('onFrame at 25 fps with a keyframe every 25 frames (low-latency) makes 1 s segments of five 0.2 s parts', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 101, fps: 25, gop: 25, withAudio: true }); // to 4.0 s
  const expected = {
    durationS: 1,
    parts: [0.2, 0.2, 0.2, 0.2, 0.2].map((d, i): [number, boolean] => [d, i === 0]),
  };
  assert.deepEqual(layout(segmenter), [expected, expected, expected, expected]);
  for (const segment of segmenter.segments) {
    const samples = fmp4Samples(segment.bytes!);
    assert.deepEqual(samples.get(1), { count: 25, durationTicks: 90_000 }, 'video: 1 s');
    assert.ok((samples.get(2)?.count ?? 0) >= 43, 'audio rides along');
    assert.equal(segment.bytes!.toString('latin1', 4, 8), 'moof');
  }
  assert.equal(segmenter.current?.msn, 4);
  assert.equal(segmenter.current.parts.length, 0);
});

test('onFrame at 30 fps keeps every part within PART-TARGET (low-latency and balanced)', () => {
  for (const [name, fps, partsPerSegment] of [
    ['low-latency', 30, 10],
    ['low-latency', 60, 10],
    ['balanced', 30, 6],
    ['balanced', 60, 6],
    ['balanced', 24, 6],
  ] as const) {
    const profile = hlsProfile(name);
    const { segmenter } = makeSegmenter(profile);
    segmenter.onTracks(testTracks('av'));
    feedVideo(segmenter, { frames: fps * 10, fps, gop: fps * 2, withAudio: true });
    assertSaneDurations(segmenter, profile);
    for (const segment of segmenter.segments) {
      assert.equal(segment.parts.length, partsPerSegment, `${name} ${fps} fps`);
      // 85% floor (RFC 8216bis 4.4.4.9) for parts that are neither independent nor last.
      for (const part of segment.parts.slice(0, -1)) {
        assert.ok(part.independent || part.durationS >= 0.85 * (profile.partTargetS ?? 0));
      }
    }
  }
});

test('onFrame marks a part independent when it starts on a keyframe, not otherwise', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('video'));
  // A keyframe every 0.4 s: segments close at 1.2 s; parts at 0, 0.4 and 0.8 s start on one.
  feedVideo(segmenter, { frames: 100, fps: 25, gop: 10 });
  const independent = [true, false, true, false, true, false];
  assert.deepEqual(
    layout(segmenter)[0]?.parts.map(([, i]) => i),
    independent,
  );
  assert.deepEqual(
    layout(segmenter)[1]?.parts.map(([, i]) => i),
    independent,
  );
});

test('onFrame with a keyframe every 2 s and a 1 s target makes 2 s segments', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 250, fps: 25, gop: 50, withAudio: true });
  const segments = layout(segmenter);
  assert.equal(segments.length, 4);
  for (const segment of segments) {
    assert.equal(segment.durationS, 2);
    assert.equal(segment.parts.length, 10);
    assert.deepEqual(
      segment.parts.map(([, i]) => i),
      [true, ...Array<boolean>(9).fill(false)],
    );
  }
});

test('onFrame force-cuts a segment with no keyframe at maxSegmentS', () => {
  const profile = hlsProfile('low-latency');
  const { segmenter } = makeSegmenter(profile);
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 25 * 25, fps: 25, gop: 0, withAudio: true }); // one keyframe
  assert.deepEqual(
    segmenter.segments.map((s) => [s.startDtsMs, Math.round(s.durationS * 1000)]),
    [
      [0, profile.maxSegmentS * 1000],
      [10_000, profile.maxSegmentS * 1000],
    ],
  );
  assert.equal(segmenter.segments[0]?.parts[0]?.independent, true);
  // A forced cut starts on an inter-frame: nothing in that segment is independent.
  assert.ok(segmenter.segments[1]?.parts.every((p) => !p.independent));
  assertSaneDurations(segmenter, profile);
});

test('onFrame cuts audio-only streams on time, every part independent', () => {
  const profile = hlsProfile('low-latency');
  const { segmenter } = makeSegmenter(profile);
  segmenter.onTracks(testTracks('audio'));
  feedAudio(segmenter, 0, 44 * 5); // about 5.1 s of AAC at 44.1 kHz
  assert.equal(segmenter.segments.length, 4);
  for (const segment of segmenter.segments) {
    // Cut at the first frame at or after 1 s: 44 frames of 1024 samples.
    assert.ok(
      segment.durationS >= 1 && segment.durationS < 1.024 + EPSILON,
      `${segment.durationS}`,
    );
    assert.ok(segment.parts.length >= 5);
    assert.ok(segment.parts.every((p) => p.independent));
    assert.equal(fmp4Samples(segment.bytes!).get(1)?.count, 44);
  }
  assertSaneDurations(segmenter, profile);
});

test('onTracks a second time (republish) marks a discontinuity and bumps the init version', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  assert.equal(segmenter.initVersion, 1);
  const init1 = segmenter.init(1);
  assert.ok(init1 !== null && init1.toString('latin1', 4, 8) === 'ftyp');
  const { endMs } = feedVideo(segmenter, { frames: 60, fps: 25, gop: 25, withAudio: true });
  // The new publisher sends video only; the hub re-bases its timestamps after the old ones.
  segmenter.onTracks(testTracks('video'));
  assert.equal(segmenter.initVersion, 2);
  assert.equal(segmenter.init(1), null);
  assert.ok(segmenter.init(2) !== null && !segmenter.init(2)?.equals(init1));
  // The interrupted segment was closed with its last frame (2.0-2.4 s).
  assert.equal(segmenter.current, null);
  assert.deepEqual(
    segmenter.segments.map((s) => [s.msn, s.durationS, s.discontinuity, s.initVersion]),
    [
      [0, 1, false, 1],
      [1, 1, false, 1],
      [2, 0.4, false, 1],
    ],
  );
  feedVideo(segmenter, { fromMs: endMs + 1000, frames: 60, fps: 25, gop: 25 });
  assert.deepEqual(
    segmenter.segments.slice(3).map((s) => [s.msn, s.discontinuity, s.initVersion]),
    [
      [3, true, 2],
      [4, false, 2],
    ],
  );
  assert.equal(fmp4Samples(segmenter.segments[3]!.bytes!).get(2), undefined, 'no audio run');
});

test('onFrame turns a timestamp jump forward, backward (even by seconds) or a 32-bit wrap into a discontinuity', () => {
  for (const name of ['low-latency', 'compatible'] as const) {
    const profile = hlsProfile(name);
    for (const [what, fromMs, toMs] of [
      ['an hour forward', 5_000, 3_605_000],
      ['a minute backward', 60_000, 1_000],
      ['an encoder clock restart a few seconds back', 8_000, 3_000],
      ['a 32-bit wrap', 0xffffff00 - 2_400, 0x100],
    ] as const) {
      const { segmenter } = makeSegmenter(profile);
      segmenter.onTracks(testTracks('av'));
      feedVideo(segmenter, { fromMs, frames: 60, fps: 25, gop: 25, withAudio: true });
      feedVideo(segmenter, { fromMs: toMs, frames: 130, fps: 25, gop: 25, withAudio: true });
      const label = `${name}, ${what}`;
      const segments = segmenter.segments;
      const after = segments.findIndex((s) => s.startDtsMs === toMs);
      assert.ok(after > 0, label);
      assert.deepEqual(
        segments.map((s) => s.discontinuity),
        segments.map((_, i) => i === after),
        label,
      );
      // The segment the jump interrupted ends one frame after its last frame (2.36 s).
      const before = segments[after - 1]!;
      assert.equal(Math.round(before.startDtsMs + before.durationS * 1000), fromMs + 2400, label);
      const targetMs = profile.segmentTargetS * 1000;
      assert.deepEqual(
        segments.slice(after).map((s) => s.startDtsMs - toMs),
        Array.from({ length: Math.floor(5000 / targetMs) }, (_, i) => i * targetMs),
        label,
      );
      assertSaneDurations(segmenter, profile);
      assert.ok(
        segments.every((s) => s.durationS > 0 && s.durationS <= 2),
        label,
      );
    }
  }
});

test('the window keeps at most windowSegments, advancing the media sequence', () => {
  const { segmenter } = makeSegmenter('low-latency', { windowSegments: 3 });
  segmenter.onTracks(testTracks('av'));
  assert.equal(segmenter.mediaSequence, 0);
  for (let second = 0; second < 8; second++) {
    feedVideo(segmenter, { fromMs: second * 1000, frames: 25, fps: 25, gop: 25, withAudio: true });
    const msns = segmenter.segments.map((s) => s.msn);
    assert.ok(msns.length <= 3);
    assert.equal(segmenter.mediaSequence, msns[0] ?? 0);
    assert.deepEqual(
      msns,
      msns.map((_, i) => (msns[0] ?? 0) + i),
      'contiguous',
    );
  }
  assert.deepEqual(
    segmenter.segments.map((s) => s.msn),
    [4, 5, 6],
  );
  assert.equal(segmenter.current?.msn, 7);
});

test('the window keeps at most maxWindowBytes (and always the newest segment)', () => {
  const probe = makeSegmenter('low-latency');
  probe.segmenter.onTracks(testTracks('av'));
  feedVideo(probe.segmenter, { frames: 51, fps: 25, gop: 25, withAudio: true });
  const segmentBytes = probe.segmenter.segments[0]!.bytes!.length;
  const maxWindowBytes = Math.floor(segmentBytes * 2.5);
  const { segmenter } = makeSegmenter('low-latency', { maxWindowBytes });
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 25 * 8 + 1, fps: 25, gop: 25, withAudio: true });
  const total = segmenter.segments.reduce((n, s) => n + s.bytes!.length, 0);
  assert.ok(total <= maxWindowBytes, `${total} > ${maxWindowBytes}`);
  assert.deepEqual(
    segmenter.segments.map((s) => s.msn),
    [6, 7],
  );
  assert.equal(segmenter.mediaSequence, 6);
  // A window smaller than one segment still lists the newest one.
  const tiny = makeSegmenter('low-latency', { maxWindowBytes: 1 });
  tiny.segmenter.onTracks(testTracks('av'));
  feedVideo(tiny.segmenter, { frames: 76, fps: 25, gop: 25, withAudio: true });
  assert.deepEqual(
    tiny.segmenter.segments.map((s) => s.msn),
    [2],
  );
});

test('the discontinuity sequence counts the discontinuities that left the window', () => {
  const { segmenter } = makeSegmenter('low-latency', { windowSegments: 2 });
  segmenter.onTracks(testTracks('video'));
  let fromMs = 0;
  const publish = (): void => {
    fromMs = feedVideo(segmenter, { fromMs, frames: 50, fps: 25, gop: 25 }).endMs;
    segmenter.onTracks(testTracks('video')); // republish: the next segment is a discontinuity
  };
  publish(); // msn 0, 1
  publish(); // msn 2 (discontinuity), 3
  assert.equal(segmenter.discontinuitySequence, 0);
  publish(); // msn 4 (discontinuity), 5: 2 leaves
  assert.equal(segmenter.mediaSequence, 4);
  assert.equal(segmenter.discontinuitySequence, 1);
  publish(); // msn 6, 7: 4 leaves
  assert.equal(segmenter.discontinuitySequence, 2);
});

test('onFrame anchors EXT-X-PROGRAM-DATE-TIME on the wall clock, again after a discontinuity', () => {
  let nowMs = 1_700_000_000_000;
  const { segmenter } = makeSegmenter('low-latency', { nowMs: () => nowMs });
  segmenter.onTracks(testTracks('video'));
  feedVideo(segmenter, { fromMs: 7_000, frames: 51, fps: 25, gop: 25 });
  assert.deepEqual(
    segmenter.segments.map((s) => s.programDateTimeMs),
    [1_700_000_000_000, 1_700_000_001_000],
  );
  nowMs = 1_700_000_100_000;
  feedVideo(segmenter, { fromMs: 3_600_000, frames: 26, fps: 25, gop: 25 });
  assert.equal(segmenter.segments.at(-1)?.programDateTimeMs, 1_700_000_100_000);
});

test('onClose closes the segment in progress with its last frame and ends the segmenter', () => {
  const under = makeSegmenter('low-latency');
  const { segmenter } = under;
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 60, fps: 25, gop: 25, withAudio: true }); // last frame at 2.36 s
  const updates = under.updates();
  segmenter.onClose('stream-ended');
  assert.equal(segmenter.ended, true);
  assert.equal(segmenter.current, null);
  assert.deepEqual(under.closeReasons, ['stream-ended']);
  assert.ok(under.updates() > updates);
  const last = segmenter.segments.at(-1)!;
  assert.equal(last.msn, 2);
  assert.equal(Math.round(last.durationS * 1000), 400, '2.0 s to 2.36 s + one frame');
  assert.equal(fmp4Samples(last.bytes!).get(1)?.count, 10);
  // Nothing happens after the end.
  segmenter.onFrame(videoFrame(2400, true));
  segmenter.onClose('server-shutdown');
  assert.equal(segmenter.current, null);
  assert.equal(segmenter.segments.length, 3);
  assert.deepEqual(under.closeReasons, ['stream-ended']);
});

test('onClose of an audio-only stream keeps its last frame and its duration', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('audio'));
  // 9 frames: the 9th starts a new part, alone in it when the stream ends.
  const endMs = feedAudio(segmenter, 0, 9);
  segmenter.onClose('stream-ended');
  const [segment] = segmenter.segments;
  assert.equal(segmenter.segments.length, 1);
  assert.equal(fmp4Samples(segment!.bytes!).get(1)?.count, 9);
  assert.ok(Math.abs(segment!.durationS * 1000 - endMs) <= 1, `${segment!.durationS} s`);
});

test('the compatible profile muxes MPEG-TS segments that open with PAT and PMT, without parts', () => {
  const profile = hlsProfile('compatible');
  const { segmenter } = makeSegmenter(profile);
  segmenter.onTracks(testTracks('av'));
  assert.equal(segmenter.init(segmenter.initVersion), null);
  feedVideo(segmenter, { frames: 25 * 7, fps: 25, gop: 25, withAudio: true });
  assert.deepEqual(
    segmenter.segments.map((s) => s.durationS),
    [2, 2, 2],
  );
  for (const segment of segmenter.segments) {
    const bytes = segment.bytes!;
    assert.equal(bytes.length % 188, 0);
    assert.equal(bytes[0], 0x47);
    assert.equal(bytes.readUInt16BE(1) & 0x1fff, 0, 'PAT on PID 0 first');
    assert.equal(bytes[188], 0x47);
    assert.equal(bytes.readUInt16BE(189) & 0x1fff, 0x1000, 'then the PMT');
    assert.equal(segment.parts.length, 1, 'one internal part: the whole segment');
  }
});

test('lean (over the memory budget) trims the window to four segments at once, and keeps it there until off', () => {
  const { segmenter, updates } = makeSegmenter('low-latency', { windowSegments: 12 });
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 251, fps: 25, gop: 25, withAudio: true }); // 10 segments
  assert.equal(segmenter.segments.length, 10);
  const firstMsn = segmenter.segments[0]?.msn ?? -1;
  const before = updates();
  segmenter.lean = true;
  assert.equal(segmenter.segments.length, 4);
  assert.equal(segmenter.segments[0]?.msn, firstMsn + 6, 'the oldest went');
  assert.ok(updates() > before, 'playlists are re-rendered');
  feedVideo(segmenter, { fromMs: 10_040, frames: 100, fps: 25, gop: 25, withAudio: true });
  assert.equal(segmenter.segments.length, 4);
  segmenter.lean = false;
  feedVideo(segmenter, { fromMs: 14_040, frames: 100, fps: 25, gop: 25, withAudio: true });
  assert.equal(segmenter.segments.length, 8, 'the window grows back as segments are made');
});

test('every playlist rendered at an update hints a part that comes to exist', () => {
  const hints: string[] = [];
  const { segmenter } = makeSegmenter('low-latency', {
    // What a held request answered at this update gets (the handler renders it there).
    onUpdate: (window) => {
      const text = renderPlaylist(window, { prefix: '', id: 'abcd0123', skip: false });
      const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="abcd0123-(\d+)\.(\d+)\.m4s"/.exec(text);
      if (hint) hints.push(`${hint[1]}.${hint[2]}`);
    },
  });
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 4 * 25 + 3, fps: 25, gop: 25, withAudio: true });
  const made = new Set<string>();
  for (const segment of [...segmenter.segments, ...(segmenter.current ? [segmenter.current] : [])])
    for (const part of segment.parts) made.add(`${segment.msn}.${part.index}`);
  assert.ok(segmenter.segments.length >= 3, 'segments were cut');
  const last = hints.at(-1);
  const never = hints.filter((hint) => !made.has(hint) && hint !== last);
  assert.deepEqual(never, [], `hinted parts that were never made (made: ${[...made].join(' ')})`);
});

test('a segment number that skips ahead (a rendition restarted) starts the window over after a discontinuity', () => {
  const window = new HlsWindow({
    profile: hlsProfile('low-latency'),
    windowSegments: 10,
    maxWindowBytes: 1 << 20,
    onUpdate: () => {},
    onClose: () => {},
  });
  const segment = (msn: number): void => {
    window.onSegmentStart({
      msn,
      startDtsMs: msn * 1000,
      startPtsMs: msn * 1000,
      programDateTimeMs: msn * 1000,
      discontinuity: false,
      independent: true,
      initVersion: 1,
    });
    window.onPart({
      msn,
      index: 0,
      bytes: Buffer.alloc(10),
      startDtsMs: msn * 1000,
      videoFrames: 25,
      durationS: 1,
      independent: true,
      last: true,
    });
    window.onSegmentEnd(msn);
  };
  segment(3);
  segment(4);
  segment(8);
  segment(9);
  assert.deepEqual(
    window.segments.map((s) => [s.msn, s.discontinuity]),
    [
      [8, true],
      [9, false],
    ],
  );
  assert.equal(window.mediaSequence, 8);
});
