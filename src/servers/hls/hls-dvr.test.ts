import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HlsDvr, removeStaleDvrFolders, type HlsDvrOptions } from './hls-dvr.ts';
import { renderPlaylist } from './hls-playlist.ts';
import {
  feedVideo,
  makeSegmenter,
  testTracks,
  type TestSegmenter,
} from '../../../test/support/hls-test-window.ts';

type Problem = Parameters<HlsDvrOptions['onProblem']>[0];

function dvrUnderTest(options: Partial<HlsDvrOptions> = {}): {
  dvr: HlsDvr;
  dir: string;
  problems: Problem[];
} {
  const dir = join(mkdtempSync(join(tmpdir(), 'onair-dvr-')), 'stream');
  const problems: Problem[] = [];
  const dvr = new HlsDvr({
    dir,
    windowS: 10,
    maxBytes: 1024 * 1024 * 1024,
    maxPendingBytes: 64 * 1024 * 1024,
    extension: 'm4s',
    onProblem: (problem) => problems.push(problem),
    onChange: () => undefined,
    ...options,
  });
  return { dvr, dir, problems };
}

/** A low-latency window of 3 segments (1 s each at 25 fps, GOP 25) in front of `dvr`. */
function windowWith(dvr: HlsDvr): {
  segmenter: TestSegmenter;
  bytesOf: Map<number, Buffer>;
  discontinuities: Set<number>;
} {
  const bytesOf = new Map<number, Buffer>();
  const discontinuities = new Set<number>();
  const { segmenter } = makeSegmenter('low-latency', {
    windowSegments: 3,
    dvr,
    onUpdate: (window) => {
      const newest = window.segments.at(-1);
      if (newest?.bytes) bytesOf.set(newest.msn, newest.bytes);
      if (newest?.discontinuity === true) discontinuities.add(newest.msn);
    },
  });
  segmenter.onTracks(testTracks('video'));
  return { segmenter, bytesOf, discontinuities };
}

function playlistLines(segmenter: TestSegmenter): string[] {
  return renderPlaylist(segmenter, { prefix: '', id: 'abcd0123', skip: false }).split('\n');
}

void test('segments that leave the memory window are listed from disk until the playlist covers dvrWindowS', async () => {
  const { dvr, dir } = dvrUnderTest({ windowS: 10 });
  const { segmenter, bytesOf } = windowWith(dvr);
  feedVideo(segmenter, { frames: 25 * 30, fps: 25, gop: 25 }); // 30 s: 29 complete segments
  await dvr.settled();
  assert.equal(segmenter.segments.length, 3, 'the memory window keeps its 3 segments');
  const lines = playlistLines(segmenter);
  const uris = lines.filter((line) => line.endsWith('.m4s'));
  const extinf = lines.filter((line) => line.startsWith('#EXTINF:'));
  const coveredS = extinf.reduce((sum, line) => sum + parseFloat(line.slice(8)), 0);
  assert.ok(coveredS >= 10 && coveredS < 11, `covers ${coveredS} s`);
  const first = dvr.segments[0]?.msn ?? -1;
  assert.ok(first > 0, 'older segments left the DVR window too');
  assert.ok(lines.includes(`#EXT-X-MEDIA-SEQUENCE:${first}`));
  assert.deepEqual(
    uris,
    uris.map((_uri, i) => `abcd0123-${first + i}.m4s`),
    'consecutive media sequence numbers, DVR first',
  );
  // On disk: exactly the DVR window's segments, each the bytes the memory window had.
  const onDisk = readdirSync(dir).sort((a, b) => parseInt(a) - parseInt(b));
  assert.deepEqual(
    onDisk,
    dvr.segments.map((segment) => `${segment.msn}.m4s`),
  );
  for (const segment of dvr.segments) {
    const read = await dvr.read(segment.msn);
    assert.ok(Buffer.isBuffer(read), `segment ${segment.msn} read`);
    assert.ok(read.equals(bytesOf.get(segment.msn) as Buffer), `segment ${segment.msn} bytes`);
  }
  assert.equal(dvr.read(first - 1), null, 'a segment that left is gone');
  assert.ok((segmenter.init(dvr.segments[0]?.initVersion ?? -1)?.length ?? 0) > 0, 'init kept');
  await dvr.close();
  assert.equal(existsSync(dir), false, 'close() removes the files');
});

void test('discontinuities are counted when they leave the DVR window, not the memory window', async () => {
  const { dvr } = dvrUnderTest({ windowS: 6 });
  const { segmenter, discontinuities } = windowWith(dvr);
  let fromMs = 0;
  // Five publishes of 2 s, each a new init: every segment after the first of each is in sequence.
  for (let publish = 0; publish < 5; publish++) {
    const withAudio = publish % 2 === 1;
    segmenter.onTracks(testTracks(withAudio ? 'av' : 'video'));
    fromMs = feedVideo(segmenter, { fromMs, frames: 50, fps: 25, gop: 25, withAudio }).endMs + 40;
  }
  segmenter.onTracks(testTracks('video'));
  await dvr.settled();
  const lines = playlistLines(segmenter);
  const listedDiscontinuities = lines.filter((line) => line === '#EXT-X-DISCONTINUITY').length;
  const sequence = Number(
    lines.find((line) => line.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:'))?.slice(30),
  );
  assert.equal(sequence, dvr.droppedDiscontinuities);
  assert.ok(sequence > 0, lines.join('\n'));
  assert.ok(discontinuities.size >= 4, 'a discontinuity at every republish');
  assert.equal(sequence + listedDiscontinuities, discontinuities.size);
  // Every listed init version can still be fetched.
  for (const line of lines.filter((l) => l.startsWith('#EXT-X-MAP:'))) {
    const version = Number(/init(\d+)\.mp4/.exec(line)?.[1]);
    assert.ok(segmenter.init(version) !== null, `init ${version}`);
  }
  await dvr.close();
});

void test('a failed write drops that segment and every older one; the playlist stays contiguous', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'onair-dvr-'));
  const dir = join(parent, 'stream');
  writeFileSync(dir, 'a file where the folder would go');
  const { dvr, problems } = dvrUnderTest({ dir, windowS: 20 });
  const { segmenter } = windowWith(dvr);
  feedVideo(segmenter, { frames: 25 * 10, fps: 25, gop: 25 });
  await dvr.settled();
  assert.ok(problems.some((problem) => problem.reason === 'write-failed'));
  assert.equal(dvr.segments.length, 0);
  const lines = playlistLines(segmenter);
  assert.ok(lines.includes(`#EXT-X-MEDIA-SEQUENCE:${segmenter.segments[0]?.msn ?? -1}`));
  await dvr.close();
});

void test('a disk slower than the stream loses the oldest waiting segments, within maxPendingBytes', async () => {
  const { dvr, problems } = dvrUnderTest({ windowS: 60, maxPendingBytes: 1 });
  const { segmenter } = windowWith(dvr);
  feedVideo(segmenter, { frames: 25 * 10, fps: 25, gop: 25 });
  const slow = problems.find((problem) => problem.reason === 'disk-slower-than-stream');
  assert.ok(slow && (slow.lost ?? 0) > 0, JSON.stringify(problems));
  await dvr.settled();
  await dvr.close();
});

void test('dvrMaxBytes bounds the window on disk', async () => {
  const { dvr } = dvrUnderTest({ windowS: 3600, maxBytes: 4096 });
  const { segmenter } = windowWith(dvr);
  feedVideo(segmenter, { frames: 25 * 20, fps: 25, gop: 25 });
  await dvr.settled();
  assert.ok(dvr.bytes <= 4096, `${dvr.bytes} bytes`);
  await dvr.close();
});

void test('removeStaleDvrFolders() removes the folders of processes that are gone', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onair-dvr-root-'));
  for (const name of ['2147483646', String(process.ppid), String(process.pid), 'other']) {
    mkdirSync(join(root, name));
  }
  await removeStaleDvrFolders(root);
  assert.deepEqual(
    readdirSync(root).sort(),
    [String(process.pid), String(process.ppid), 'other'].sort(),
  );
});
