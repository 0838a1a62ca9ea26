import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CutGrid } from './cut-grid.ts';
import { Fragmenter, type FragmentPart, type FragmentSink } from './fragmenter.ts';
import { feedVideo, testTracks } from '../../test/support/media-frames.ts';

/** A sink that writes down what it gets. */
function recordingSink(): FragmentSink & { events: string[]; parts: FragmentPart[] } {
  const events: string[] = [];
  const parts: FragmentPart[] = [];
  return {
    events,
    parts,
    onInit: (init) => {
      events.push(`init${init.version}`);
    },
    onSegmentStart: (s) => {
      events.push(`start${s.msn}${s.discontinuity ? 'd' : ''}`);
    },
    onPart: (p) => {
      parts.push(p);
      events.push(`part${p.msn}.${p.index}${p.last ? 'L' : ''}`);
    },
    onSegmentEnd: (msn) => {
      events.push(`end${msn}`);
    },
    onEnd: (reason) => {
      events.push(`end:${reason}`);
    },
  };
}

function fragmenter(onSinkError?: (error: unknown) => void): Fragmenter {
  return new Fragmenter({
    container: 'fmp4',
    cut: { segmentTargetS: 1, partTargetS: 0.2, maxSegmentS: 10 },
    now: () => 1_700_000_000_000,
    ...(onSinkError ? { onSinkError } : {}),
  });
}

/** Feeds the fragmenter as the stream would (feedVideo drives onFrame). */
function feed(f: Fragmenter, fromMs: number, frames: number): void {
  feedVideo(f, {
    fromMs,
    frames,
    fps: 25,
    gop: 25,
    withAudio: true,
  });
}

test('every sink gets the same cuts and the same bytes: each part is muxed once', () => {
  const f = fragmenter();
  const a = recordingSink();
  const b = recordingSink();
  f.addSink(a);
  f.addSink(b);
  f.onTracks(testTracks('av'));
  feed(f, 0, 60);
  assert.deepEqual(a.events, b.events);
  assert.ok(a.parts.length >= 10);
  a.parts.forEach((part, i) => {
    assert.equal(part.bytes, b.parts[i]?.bytes, 'one buffer, shared');
  });
  // Segment 0: five parts, the last flagged, then its end.
  assert.deepEqual(a.events.slice(0, 8), [
    'init1',
    'start0',
    'part0.0',
    'part0.1',
    'part0.2',
    'part0.3',
    'part0.4L',
    'end0',
  ]);
});

test('a sink added mid-segment gets the init, the segment start and its parts so far', () => {
  const f = fragmenter();
  const first = recordingSink();
  f.addSink(first);
  f.onTracks(testTracks('av'));
  feed(f, 0, 38); // segment 1 in progress, with two parts
  const late = recordingSink();
  f.addSink(late);
  assert.deepEqual(late.events, ['init1', 'start1', 'part1.0', 'part1.1']);
  feed(f, 1520, 10);
  f.onClose('stream-ended');
  assert.deepEqual(late.events.slice(-3), ['part1.4L', 'end1', 'end:stream-ended']);
  assert.equal(late.events.at(-1), first.events.at(-1));
});

test('a sink that throws is removed and reported; the others go on', () => {
  const errors: unknown[] = [];
  const f = fragmenter((error) => {
    errors.push(error);
  });
  const good = recordingSink();
  f.addSink({
    ...recordingSink(),
    onPart: () => {
      throw new Error('disk full');
    },
  });
  f.addSink(good);
  f.onTracks(testTracks('av'));
  feed(f, 0, 60);
  assert.equal(errors.length, 1);
  assert.equal(f.sinkCount, 1);
  assert.ok(good.parts.length >= 10);
});

test('a second onTracks starts the next segment after a discontinuity, with a new init version', () => {
  const f = fragmenter();
  const sink = recordingSink();
  f.addSink(sink);
  f.onTracks(testTracks('av'));
  feed(f, 0, 30);
  f.onTracks(testTracks('av'));
  feed(f, 1200, 30);
  assert.ok(sink.events.includes('init2'));
  const afterInit = sink.events.slice(sink.events.indexOf('init2'));
  assert.match(afterInit.find((e) => e.startsWith('start')) ?? '', /^start\d+d$/);
});

test('a fragmenter following a CutGrid cuts where the source did: same msn, part index, start times and dates', () => {
  const source = fragmenter();
  const grid = new CutGrid();
  const sourceSink = recordingSink();
  source.addSink(grid);
  source.addSink(sourceSink);
  let clock = 1_700_000_000_000;
  const rendition = new Fragmenter({
    container: 'fmp4',
    // Its own policy would cut quite differently: what it makes must come from the grid.
    cut: { segmentTargetS: 3, partTargetS: 0.5, maxSegmentS: 10 },
    now: () => (clock += 777),
    follow: grid,
  });
  const renditionSink = recordingSink();
  const starts = new Map<number, { ptsMs: number; dateMs: number }>();
  const sourceStarts = new Map<number, { ptsMs: number; dateMs: number }>();
  rendition.addSink({
    ...renditionSink,
    onSegmentStart: (s) => {
      renditionSink.onSegmentStart(s);
      starts.set(s.msn, { ptsMs: s.startPtsMs, dateMs: s.programDateTimeMs });
    },
  });
  source.addSink({
    ...recordingSink(),
    onSegmentStart: (s) =>
      sourceStarts.set(s.msn, { ptsMs: s.startPtsMs, dateMs: s.programDateTimeMs }),
  });
  source.onTracks(testTracks('av'));
  rendition.onTracks(testTracks('av'));
  // The rendition joins mid-GOP (as a restarted ffmpeg would) at half the frame rate, keeping
  // every keyframe; each frame reaches it right after the source (the closest it can follow).
  let index = 0;
  feedVideo(
    {
      onFrame: (frame) => {
        source.onFrame(frame);
        if (frame.kind !== 'video') return;
        const i = index++;
        if (i >= 13 && (frame.keyframe || i % 2 === 0)) rendition.onFrame(frame);
      },
    },
    { fromMs: 0, frames: 150, fps: 25, gop: 25 },
  );
  source.onClose('done');
  rendition.onClose('done');
  // The source's own cuts: a segment a second (every keyframe), parts of 0.2 s.
  const first = renditionSink.events.find((e) => e.startsWith('start'));
  assert.equal(first, 'start1', 'the rendition starts at the first source segment it can open');
  for (const [msn, start] of starts) {
    assert.deepEqual(
      start,
      sourceStarts.get(msn),
      `segment ${msn} starts and is dated as the source's`,
    );
  }
  const sourceParts = new Map(sourceSink.parts.map((p) => [`${p.msn}.${p.index}`, p]));
  const closed = renditionSink.parts.filter((p) => !p.last);
  assert.ok(closed.length >= 20);
  for (const part of closed) {
    const twin = sourceParts.get(`${part.msn}.${part.index}`);
    assert.ok(twin, `the source has part ${part.msn}.${part.index}`);
    // At half the frame rate a rendition's cut may come one source frame (40 ms) later.
    assert.ok(part.startDtsMs - twin.startDtsMs >= 0 && part.startDtsMs - twin.startDtsMs <= 40);
  }
});

test('a follower waits for the source: with no source segment to open, it keeps nothing', () => {
  const grid = new CutGrid();
  const follower = new Fragmenter({
    container: 'fmp4',
    cut: { segmentTargetS: 1, partTargetS: 0.2, maxSegmentS: 10 },
    now: () => 0,
    follow: grid,
  });
  const sink = recordingSink();
  follower.addSink(sink);
  follower.onTracks(testTracks('av'));
  feed(follower, 0, 60);
  assert.deepEqual(sink.events, ['init1']);
});

test('carry: a video-only and an audio-only follower split a muxed source on its cuts, audio within one frame', () => {
  const source = fragmenter();
  const grid = new CutGrid();
  const sourceSink = recordingSink();
  source.addSink(grid);
  source.addSink(sourceSink);
  const follower = (
    carry: 'video' | 'audio',
  ): {
    f: Fragmenter;
    sink: ReturnType<typeof recordingSink>;
    tracks: string[];
    starts: Map<number, number>;
  } => {
    const f = new Fragmenter({
      container: 'fmp4',
      cut: { segmentTargetS: 3, partTargetS: 0.5, maxSegmentS: 10 },
      now: () => 0,
      follow: grid,
      carry,
    });
    const sink = recordingSink();
    const tracks: string[] = [];
    const starts = new Map<number, number>();
    f.addSink({
      ...sink,
      onInit: (init) => {
        sink.onInit(init);
        tracks.push(...init.tracks.map((t) => t.kind));
      },
      onSegmentStart: (s) => {
        sink.onSegmentStart(s);
        starts.set(s.msn, s.programDateTimeMs);
      },
    });
    return { f, sink, tracks, starts };
  };
  const video = follower('video');
  const audio = follower('audio');
  const sourceStarts = new Map<number, number>();
  source.addSink({
    ...recordingSink(),
    onSegmentStart: (s) => sourceStarts.set(s.msn, s.programDateTimeMs),
  });
  for (const f of [source, video.f, audio.f]) f.onTracks(testTracks('av'));
  feedVideo(
    {
      onFrame: (frame) => {
        source.onFrame(frame);
        video.f.onFrame(frame);
        audio.f.onFrame(frame);
      },
    },
    { fromMs: 0, frames: 150, fps: 25, gop: 25, withAudio: true },
  );
  assert.deepEqual(video.tracks, ['video']);
  assert.deepEqual(audio.tracks, ['audio']);
  const sourceParts = new Map(sourceSink.parts.map((p) => [`${p.msn}.${p.index}`, p]));
  // The video follower makes the source's parts exactly; the audio one the same parts, each
  // starting with the AAC frame (23 ms) that plays at the source's cut: never after it.
  for (const [name, sink, slackMs] of [
    ['video', video.sink, 0],
    ['audio', audio.sink, 24],
  ] as const) {
    const closed = sink.parts.filter((p) => !p.last);
    assert.ok(closed.length >= 20, `${name}: ${closed.length} parts`);
    for (const part of closed) {
      const twin = sourceParts.get(`${part.msn}.${part.index}`);
      assert.ok(twin, `${name}: the source has part ${part.msn}.${part.index}`);
      const early = twin.startDtsMs - part.startDtsMs;
      assert.ok(
        early > -1 && early <= slackMs,
        `${name} ${part.msn}.${part.index} is ${early} ms early`,
      );
      if (name === 'audio') assert.equal(part.independent, true, 'audio parts are independent');
      else assert.equal(part.independent, twin.independent);
    }
  }
  for (const [msn, dateMs] of video.starts) assert.equal(dateMs, sourceStarts.get(msn));
  for (const [msn, dateMs] of audio.starts) {
    const early = (sourceStarts.get(msn) ?? NaN) - dateMs;
    assert.ok(
      early > -1 && early <= 24,
      `audio segment ${msn} dated ${early} ms before the source's`,
    );
  }
  // The video follower's parts carry no audio sample, the audio one's no video.
  assert.ok(video.sink.parts.every((p) => p.videoFrames > 0));
  assert.ok(audio.sink.parts.every((p) => p.videoFrames === 0));
});
