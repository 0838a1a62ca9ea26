// Tests of the replay playlist: how fragments become segments, the byte ranges, and what a
// growing (live) recording lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileIndex, FragmentRef } from '../../recording/file-index.ts';
import { VodHandler, renderVodPlaylist, vodSegments } from './vod-handler.ts';

const INIT_END = 1234;

/** Consecutive fragments after the init; `spec` is [durationMs, independent, size?] each. */
function fragments(spec: readonly (readonly [number, boolean, number?])[]): FragmentRef[] {
  let offset = INIT_END;
  let timeMs = 0;
  return spec.map(([durationMs, independent, size = 1000 + durationMs]) => {
    const fragment = { offset, size, moofSize: 100, timeMs, durationMs, independent };
    offset += size;
    timeMs += durationMs;
    return fragment;
  });
}

function indexOf(list: readonly FragmentRef[]): FileIndex {
  return { initEnd: INIT_END, fragments: list, tracks: [{ trackId: 1, timescale: 90_000 }] };
}

const durations = (segments: FragmentRef[][]): number[][] =>
  segments.map((s) => s.map((f) => f.durationMs));

test('vodSegments: groups from a keyframe to at least 2 s', () => {
  const list = fragments([
    [1000, true],
    [500, false],
    [600, true], // 1500 ms so far: not yet
    [400, true], // 2100 ms: a new segment starts here
    [1000, false],
    [1000, false], // 2400 ms, but no keyframe follows until...
    [2000, true],
    [100, false],
  ]);
  assert.deepEqual(durations(vodSegments(list)), [
    [1000, 500, 600],
    [400, 1000, 1000],
    [2000, 100],
  ]);
  for (const segment of vodSegments(list)) assert.equal(segment[0]?.independent, true);
});

test('vodSegments: leading fragments without a keyframe are dropped', () => {
  const list = fragments([
    [500, false],
    [500, false],
    [2000, true],
    [500, false],
  ]);
  assert.deepEqual(durations(vodSegments(list)), [[2000, 500]]);
  assert.deepEqual(vodSegments(fragments([[500, false]])), []);
  assert.deepEqual(vodSegments([]), []);
});

/** The segments of a playlist: [EXTINF seconds, byte length, offset]. */
function listed(playlist: string): [number, number, number][] {
  const out: [number, number, number][] = [];
  const lines = playlist.split('\n');
  lines.forEach((line, i) => {
    if (!line.startsWith('#EXTINF:')) return;
    const range = /^#EXT-X-BYTERANGE:(\d+)@(\d+)$/.exec(lines[i + 1] ?? '');
    assert.ok(range, `a byte range follows ${line}`);
    assert.equal(lines[i + 2], 'r.mp4');
    out.push([Number.parseFloat(line.slice(8)), Number(range[1]), Number(range[2])]);
  });
  return out;
}

const SPEC: readonly (readonly [number, boolean, number?])[] = [
  [300, false, 77], // dropped: no keyframe before it
  [1000, true, 5000],
  [1000, false, 3000],
  [1000, true, 4000],
  [1000, false, 3100],
  [1500, true, 7000],
  [700, false, 2000],
];

test('renderVodPlaylist: a closed recording is a VOD playlist of exact byte ranges', () => {
  const list = fragments(SPEC);
  const body = renderVodPlaylist(indexOf(list), { uri: 'r.mp4', live: false, startMs: 0 });
  const lines = body.split('\n');
  assert.equal(lines[0], '#EXTM3U');
  assert.ok(lines.includes('#EXT-X-PLAYLIST-TYPE:VOD'));
  assert.ok(lines.includes(`#EXT-X-MAP:URI="r.mp4",BYTERANGE="${INIT_END}@0"`));
  assert.ok(lines.includes('#EXT-X-TARGETDURATION:3'));
  assert.ok(body.endsWith('#EXT-X-ENDLIST\n'));
  const first = list[1] as FragmentRef;
  assert.ok(lines.includes(`#EXT-X-PROGRAM-DATE-TIME:${new Date(first.timeMs).toISOString()}`));
  const segments = listed(body);
  assert.deepEqual(segments, [
    [2, 8000, INIT_END + 77],
    [2, 7100, INIT_END + 77 + 8000],
    [2.2, 9000, INIT_END + 77 + 15100],
  ]);
  // Contiguous: each segment starts where the previous one ends, the last ends with the file.
  for (let i = 1; i < segments.length; i++) {
    const [, length, offset] = segments[i - 1] as [number, number, number];
    assert.equal(segments[i]?.[2], offset + length);
  }
  const last = list.at(-1) as FragmentRef;
  const [, length, offset] = segments.at(-1) as [number, number, number];
  assert.equal(offset + length, last.offset + last.size);
});

test('renderVodPlaylist: program date time is the recording start plus the first segment', () => {
  const startMs = Date.UTC(2026, 11, 2, 10, 15, 0);
  const body = renderVodPlaylist(indexOf(fragments(SPEC)), { uri: 'r.mp4', live: false, startMs });
  assert.ok(body.includes('#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:15:00.300Z\n'));
});

test('renderVodPlaylist: a live recording is an EVENT playlist without its growing segment', () => {
  const body = renderVodPlaylist(indexOf(fragments(SPEC)), {
    uri: 'r.mp4',
    live: true,
    startMs: 0,
  });
  assert.ok(body.includes('#EXT-X-PLAYLIST-TYPE:EVENT\n'));
  assert.ok(!body.includes('#EXT-X-ENDLIST'));
  assert.equal(listed(body).length, 2); // the third, still growing, is not listed
  const empty = renderVodPlaylist(indexOf([]), { uri: 'r.mp4', live: true, startMs: 0 });
  assert.deepEqual(listed(empty), []);
  // A growing playlist announces a target that no later segment exceeds (it never changes).
  assert.ok(body.includes('#EXT-X-TARGETDURATION:10\n'));
  assert.ok(empty.includes('#EXT-X-TARGETDURATION:10\n'));
});

test('renderVodPlaylist: a listed segment never changes while the recording grows', () => {
  // Irregular keyframe intervals and fragment durations, fixed so the test is repeatable.
  const spec: [number, boolean, number][] = [[400, false, 90]];
  for (let i = 0; i < 120; i++)
    spec.push([200 + ((i * 137) % 900), i % 3 === 0 || i % 7 === 0, 500 + i]);
  const all = fragments(spec);
  let previous: string[] = [];
  for (let k = 0; k <= all.length; k++) {
    const body = renderVodPlaylist(indexOf(all.slice(0, k)), {
      uri: 'r.mp4',
      live: true,
      startMs: 0,
    });
    const lines = body.split('\n');
    const at = lines.findIndex((l) => l.startsWith('#EXTINF:'));
    const entries = at < 0 ? [] : lines.slice(at, lines.length - 1);
    assert.deepEqual(entries.slice(0, previous.length), previous, `step ${k} changed a segment`);
    previous = entries;
  }
  assert.ok(previous.length > 30, 'the recording grew to many segments');
  // Once closed, the VOD playlist lists the same segments plus the last.
  const closed = renderVodPlaylist(indexOf(all), { uri: 'r.mp4', live: false, startMs: 0 });
  assert.equal(listed(closed).length, previous.length / 3 + 1);
});

test('VodHandler.parseTarget: only /vod/<16 lowercase hex>.m3u8 or .mp4', () => {
  const id = '0123456789abcdef';
  assert.deepEqual(VodHandler.parseTarget(`/vod/${id}.m3u8`), { id, kind: 'playlist' });
  assert.deepEqual(VodHandler.parseTarget(`/vod/${id}.mp4`), { id, kind: 'file' });
  for (const path of [
    `/vod/${id.toUpperCase()}.m3u8`,
    `/vod/${id.slice(1)}.m3u8`,
    `/vod/${id}0.mp4`,
    `/vod/${id}.ts`,
    `/vod/${id}.m3u8/`,
    `/vod/${id}.mp4?x=1`,
    `/vod/../${id}.mp4`,
    `/vod/x/${id}.mp4`,
    `/live/${id}.mp4`,
    `vod/${id}.mp4`,
    `/vod/${id}.m3u8\n`,
    '/vod/cam1.m3u8',
    '/vod/0123456789abcdeg.mp4',
  ]) {
    assert.equal(VodHandler.parseTarget(path), null, path);
  }
});
