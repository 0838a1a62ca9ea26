import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HlsWindow } from './hls-window.ts';
import { renderPlaylist } from './hls-playlist.ts';
import {
  feedAudio,
  feedVideo,
  makeSegmenter,
  testTracks,
} from '../../../test/support/hls-test-window.ts';

const ID = '0123abcd';

/** The playlist's numbers and lines that the tests look at. */
interface Parsed {
  readonly text: string;
  readonly targetDurationS: number;
  readonly mediaSequence: number;
  readonly discontinuitySequence: number;
  readonly partTargetS: number | null;
  readonly extinfS: number[];
  readonly segmentUris: string[];
  readonly partDurationsS: number[];
  readonly partUris: string[];
  readonly maps: string[];
  readonly discontinuities: number;
  readonly preloadHint: string | null;
  readonly endList: boolean;
}

function render(segmenter: HlsWindow, prefix = ''): Parsed {
  const text = renderPlaylist(segmenter, { prefix, id: ID, skip: false });
  const lines = text.split('\n');
  const number = (tag: string): number => {
    const line = lines.find((l) => l.startsWith(`#${tag}:`));
    assert.ok(line !== undefined, `${tag} in\n${text}`);
    return Number(line.slice(tag.length + 2));
  };
  const attribute = (line: string, name: string): string =>
    new RegExp(`${name}="?([^",]*)"?`).exec(line)?.[1] ?? '';
  const parts = lines.filter((l) => l.startsWith('#EXT-X-PART:'));
  const partInf = lines.find((l) => l.startsWith('#EXT-X-PART-INF:'));
  const hint = lines.find((l) => l.startsWith('#EXT-X-PRELOAD-HINT:'));
  return {
    text,
    targetDurationS: number('EXT-X-TARGETDURATION'),
    mediaSequence: number('EXT-X-MEDIA-SEQUENCE'),
    discontinuitySequence: number('EXT-X-DISCONTINUITY-SEQUENCE'),
    partTargetS: partInf === undefined ? null : Number(attribute(partInf, 'PART-TARGET')),
    extinfS: lines.filter((l) => l.startsWith('#EXTINF:')).map((l) => parseFloat(l.slice(8))),
    segmentUris: lines.filter((l, i) => lines[i - 1]?.startsWith('#EXTINF:') === true),
    partDurationsS: parts.map((l) => Number(attribute(l, 'DURATION'))),
    partUris: parts.map((l) => attribute(l, 'URI')),
    maps: lines.filter((l) => l.startsWith('#EXT-X-MAP:')).map((l) => attribute(l, 'URI')),
    discontinuities: lines.filter((l) => l === '#EXT-X-DISCONTINUITY').length,
    preloadHint: hint === undefined ? null : attribute(hint, 'URI'),
    endList: lines.includes('#EXT-X-ENDLIST'),
  };
}

test('renderPlaylist() lists segments, their parts, the partial segment and a preload hint', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 60, fps: 25, gop: 25, withAudio: true }); // 2 segments + 1 part
  const playlist = render(segmenter, 'cam/');
  assert.equal(playlist.targetDurationS, 1);
  assert.equal(playlist.partTargetS, 0.2);
  assert.equal(playlist.mediaSequence, 0);
  assert.deepEqual(playlist.extinfS, [1, 1]);
  assert.deepEqual(playlist.segmentUris, [`cam/${ID}-0.m4s`, `cam/${ID}-1.m4s`]);
  assert.deepEqual(playlist.maps, [`cam/${ID}-init1.mp4`]);
  assert.deepEqual(playlist.partUris.slice(-3), [
    `cam/${ID}-1.3.m4s`,
    `cam/${ID}-1.4.m4s`,
    `cam/${ID}-2.0.m4s`,
  ]);
  assert.ok(playlist.partDurationsS.every((d) => d === 0.2));
  assert.equal(playlist.preloadHint, `cam/${ID}-2.1.m4s`);
  assert.equal(playlist.endList, false);
  assert.match(playlist.text, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,/);
  assert.match(
    playlist.text,
    /#EXT-X-PART:DURATION=0\.20000,URI="cam\/0123abcd-2\.0\.m4s",INDEPENDENT=YES\n/,
  );
  assert.match(playlist.text, /#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20\.000Z\n/);
});

test('renderPlaylist() writes no URI prefix for /NAME/index.m3u8', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('video'));
  feedVideo(segmenter, { frames: 30, fps: 25, gop: 25 });
  const playlist = render(segmenter, '');
  assert.deepEqual(playlist.segmentUris, [`${ID}-0.m4s`]);
  assert.deepEqual(playlist.maps, [`${ID}-init1.mp4`]);
  assert.equal(playlist.preloadHint, `${ID}-1.0.m4s`);
});

test('renderPlaylist() advances MEDIA-SEQUENCE and counts departed discontinuities', () => {
  const { segmenter } = makeSegmenter('low-latency', { windowSegments: 3 });
  segmenter.onTracks(testTracks('video'));
  const discontinuityOf = new Map<number, boolean>();
  let fromMs = 0;
  for (let publish = 0; publish < 6; publish++) {
    // Each publish brings 1 or 2 segments; every publish after the first is a discontinuity.
    fromMs = feedVideo(segmenter, {
      fromMs,
      frames: 25 * (1 + (publish % 2)),
      fps: 25,
      gop: 25,
    }).endMs;
    segmenter.onTracks(testTracks('video'));
    for (const s of segmenter.segments) discontinuityOf.set(s.msn, s.discontinuity);
    const playlist = render(segmenter);
    const first = segmenter.segments[0]!.msn;
    assert.equal(playlist.mediaSequence, first);
    assert.equal(playlist.segmentUris[0], `${ID}-${first}.m4s`);
    assert.equal(playlist.segmentUris.length, Math.min(3, discontinuityOf.size));
    const departed = [...discontinuityOf].filter(([msn, d]) => msn < first && d).length;
    assert.equal(playlist.discontinuitySequence, departed, playlist.text);
    const listed = segmenter.segments.filter((s) => s.discontinuity).length;
    assert.equal(playlist.discontinuities, listed);
  }
  // 9 segments made (msn 0-8), 6 departed, 3 of them discontinuities (msn 1, 3 and 4).
  assert.equal(discontinuityOf.size, 9);
  assert.equal(render(segmenter).mediaSequence, 6);
  assert.equal(render(segmenter).discontinuitySequence, 3);
});

test('renderPlaylist() after a republish switches EXT-X-MAP to the new init segment', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  const { endMs } = feedVideo(segmenter, { frames: 50, fps: 25, gop: 25, withAudio: true });
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { fromMs: endMs + 1000, frames: 51, fps: 25, gop: 25, withAudio: true });
  const playlist = render(segmenter);
  assert.deepEqual(playlist.maps, [`${ID}-init1.mp4`, `${ID}-init2.mp4`]);
  assert.equal(playlist.discontinuities, 1);
  const lines = playlist.text.split('\n');
  const at = lines.indexOf('#EXT-X-DISCONTINUITY');
  assert.equal(lines[at + 1], `#EXT-X-MAP:URI="${ID}-init2.mp4"`, 'the map follows the tag');
});

test('renderPlaylist() writes only small positive EXTINFs across jumps and a 32-bit wrap', () => {
  for (const name of ['low-latency', 'compatible'] as const) {
    const { segmenter } = makeSegmenter(name);
    segmenter.onTracks(testTracks('av'));
    let discontinuities = 0;
    for (const fromMs of [0xffffff00 - 2_400, 0x100, 3_600_000, 60_000, 1_000]) {
      feedVideo(segmenter, { fromMs, frames: 60, fps: 25, gop: 25, withAudio: true });
      const playlist = render(segmenter);
      assert.equal(playlist.discontinuities, discontinuities++, `${name} at ${fromMs}`);
      assert.equal(playlist.targetDurationS, name === 'compatible' ? 2 : 1, playlist.text);
      for (const extinf of playlist.extinfS) {
        assert.ok(extinf > 0 && extinf <= playlist.targetDurationS, playlist.text);
      }
    }
  }
});

test('renderPlaylist() after onClose ends with EXT-X-ENDLIST and no preload hint', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 60, fps: 25, gop: 25, withAudio: true });
  segmenter.onClose('stream-ended');
  const playlist = render(segmenter);
  assert.equal(playlist.endList, true);
  assert.equal(playlist.preloadHint, null);
  assert.equal(playlist.text.trimEnd().split('\n').at(-1), '#EXT-X-ENDLIST');
  assert.deepEqual(playlist.extinfS, [1, 1, 0.4]);
  assert.equal(playlist.partUris.at(-1), `${ID}-2.1.m4s`, 'the closed segment keeps its parts');
});

test('renderPlaylist() for the compatible profile lists .ts segments without parts or map', () => {
  const { segmenter } = makeSegmenter('compatible');
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 25 * 5, fps: 25, gop: 25, withAudio: true });
  const playlist = render(segmenter, 'cam/');
  assert.deepEqual(playlist.segmentUris, [`cam/${ID}-0.ts`, `cam/${ID}-1.ts`]);
  assert.deepEqual(playlist.extinfS, [2, 2]);
  assert.equal(playlist.targetDurationS, 2);
  assert.equal(playlist.partTargetS, null);
  assert.deepEqual(playlist.partUris, []);
  assert.deepEqual(playlist.maps, []);
  assert.equal(playlist.preloadHint, null);
  assert.doesNotMatch(playlist.text, /#EXT-X-SERVER-CONTROL|\.m4s|\.mp4/);
});

test('renderPlaylist() keeps every part within PART-TARGET (balanced, 30 fps)', () => {
  const { segmenter } = makeSegmenter('balanced');
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 30 * 6, fps: 30, gop: 60, withAudio: true });
  const playlist = render(segmenter);
  assert.ok(playlist.partTargetS !== null);
  assert.ok(playlist.partDurationsS.length >= 12);
  for (const d of playlist.partDurationsS) assert.ok(d <= playlist.partTargetS, playlist.text);
  assert.equal(playlist.targetDurationS, 2);
});

test('renderPlaylist() of an audio-only stream lists independent parts', () => {
  const { segmenter } = makeSegmenter('low-latency');
  segmenter.onTracks(testTracks('audio'));
  feedAudio(segmenter, 0, 100);
  const playlist = render(segmenter);
  assert.equal(playlist.extinfS.length, 2);
  const parts = playlist.text.split('\n').filter((l) => l.startsWith('#EXT-X-PART:'));
  assert.ok(parts.length > 0 && parts.every((l) => l.endsWith(',INDEPENDENT=YES')));
});

test('a playlist rendered as a segment closes (the first one a held request gets) still hints the next part', () => {
  const rendered: Parsed[] = [];
  // Render inside onUpdate, as held requests are answered: between one segment and the next.
  const { segmenter: real } = makeSegmenter('low-latency', {
    windowSegments: 12,
    onUpdate: (segmenter) => {
      if (segmenter.segments.length > 0 && rendered.length === 0) {
        rendered.push(render(segmenter));
      }
    },
  });
  real.onTracks(testTracks('av'));
  feedVideo(real, { frames: 26, fps: 25, gop: 25, withAudio: true });
  const first = rendered[0];
  assert.ok(first !== undefined, 'rendered when the first segment closed');
  assert.deepEqual(first.segmentUris, [`${ID}-0.m4s`]);
  assert.equal(first.preloadHint, `${ID}-1.0.m4s`);
});
