// The ABR ladder over LL-HLS: a 720p publish (with B-frames, as OBS sends) and two renditions
// made by a real ffmpeg give a multivariant playlist whose variants are what their tracks are,
// and whose segments and parts line up: same media sequence numbers, same part indexes, same
// start times, same program date times; each variant reports the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import HLS from 'hls-parser';
import { startServer } from '../support/server.ts';
import { probe, publishTestPattern, run, waitFor } from '../support/media-tools.ts';

/** One media playlist, read line by line (LL-HLS tags included). */
interface MediaView {
  readonly segments: { msn: number; dateMs: number; durationS: number; parts: number }[];
  readonly reports: string[];
}

function readMedia(text: string): MediaView {
  const lines = text.split('\n');
  let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  const segments: MediaView['segments'] = [];
  let dateMs = NaN;
  let parts = 0;
  const reports: string[] = [];
  for (const line of lines) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) dateMs = Date.parse(line.slice(25));
    else if (line.startsWith('#EXT-X-PART:')) parts++;
    else if (line.startsWith('#EXTINF:')) {
      segments.push({ msn: msn++, dateMs, durationS: Number.parseFloat(line.slice(8)), parts });
      parts = 0;
    } else if (line.startsWith('#EXT-X-RENDITION-REPORT:')) {
      reports.push(/URI="([^"]*)"/.exec(line)?.[1] ?? '');
    }
  }
  return { segments, reports };
}

async function text(url: string): Promise<string> {
  const answer = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(answer.status, 200, url);
  return answer.text();
}

async function bytes(url: string): Promise<Buffer> {
  const answer = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(answer.status, 200, url);
  return Buffer.from(await answer.arrayBuffer());
}

void test(
  'a 720p publish with a ladder: a multivariant LL-HLS playlist whose variants line up part by part',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({
      abr: {
        renditions: [
          { name: '480p', height: 480, videoKbps: 800 },
          { name: '240p', height: 240, videoKbps: 300 },
        ],
      },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/x'), {
      size: '1280x720',
      gop: 25,
      bFrames: 2,
    });
    const dir = mkdtempSync(join(tmpdir(), 'onair-abr-hls-'));
    try {
      const { hub } = server.onair;
      const live = (path: string): boolean => hub.get(path)?.publisher != null;
      await waitFor(() => live('live/x_480p') && live('live/x_240p'), 30_000, 'the renditions');

      const multivariantUrl = server.httpUrl('live/x.m3u8');
      const parsed = HLS.parse(await text(multivariantUrl));
      if (!parsed.isMasterPlaylist) assert.fail('live/x.m3u8 is a multivariant playlist');
      const variants = parsed.variants;
      assert.deepEqual(
        variants.map((v) => v.uri),
        ['x.m3u8?variant=source', 'x_480p.m3u8', 'x_240p.m3u8'],
      );
      assert.deepEqual(
        variants.map((v) => v.resolution?.height),
        [720, 480, 240],
      );
      for (const variant of variants) {
        const { width = 0, height = 0 } = variant.resolution ?? {};
        assert.ok(Math.abs(width - (height * 16) / 9) <= 2, `RESOLUTION ${width}x${height}`);
      }
      for (const variant of variants) {
        assert.match(variant.codecs ?? '', /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
        assert.ok(variant.bandwidth > 0 && (variant.averageBandwidth ?? 0) > 0);
        assert.ok(Math.abs((variant.frameRate ?? 0) - 25) < 1, `FRAME-RATE ${variant.frameRate}`);
      }
      assert.ok(variants[0]!.bandwidth > variants[2]!.bandwidth, 'the source takes more than 240p');
      const urls = variants.map((v) => new URL(v.uri, multivariantUrl).toString());

      // Each variant decodes as what the playlist says it is.
      for (const [index, url] of urls.entries()) {
        const streams = await probe(url);
        const video = streams.find((s) => s.codec_type === 'video');
        assert.equal(video?.codec_name, 'h264', url);
        assert.equal(video.height, variants[index]!.resolution?.height, url);
        assert.ok(
          streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac'),
          url,
        );
      }

      // Three complete segments in common, then compare them number by number.
      let views: MediaView[] = [];
      let common: number[] = [];
      await waitFor(
        async () => {
          views = await Promise.all(urls.map(async (url) => readMedia(await text(url))));
          const sets = views.map((view) => new Set(view.segments.map((s) => s.msn)));
          common = [...(sets[0] ?? [])].filter((msn) => sets.every((set) => set.has(msn)));
          return common.length >= 3;
        },
        30_000,
        'three segments in every variant',
      );
      let partsCompared = 0;
      for (const msn of common) {
        const [source, ...others] = views.map((view) => view.segments.find((s) => s.msn === msn)!);
        for (const other of others) {
          assert.equal(other.dateMs, source!.dateMs, `segment ${msn}: the same PROGRAM-DATE-TIME`);
          // Parts are listed for the newest segments only (and so for the newest of each).
          if (other.parts > 0 && source!.parts > 0) {
            assert.equal(other.parts, source!.parts, `segment ${msn}: the same parts`);
            partsCompared++;
          }
          assert.ok(Math.abs(other.durationS - source!.durationS) < 0.05, `segment ${msn}`);
        }
      }
      assert.ok(partsCompared >= 2, 'the parts of some segments were compared');
      // Each variant reports the other two.
      assert.deepEqual(views[0]!.reports, ['x_480p.m3u8', 'x_240p.m3u8']);
      assert.deepEqual(views[1]!.reports, ['x.m3u8?variant=source', 'x_240p.m3u8']);

      // The media itself: each segment and part of the same number starts on the same picture.
      const msn = common[1]!;
      for (const part of [null, 1, 2]) {
        const starts = await Promise.all(
          urls.map(async (url, index) => {
            const media = await text(url);
            const id = /URI="[^"]*?([0-9a-f]{8})-init(\d+)\.mp4"/.exec(media);
            assert.ok(id, `${url} has an init segment`);
            const base = new URL(`${urlPrefix(url)}${id[1]}-`, url).toString();
            const file = join(dir, `v${index}-${part ?? 's'}.mp4`);
            const name = part === null ? `${msn}.m4s` : `${msn}.${part}.m4s`;
            writeFileSync(
              file,
              Buffer.concat([
                await bytes(`${base}init${id[2]}.mp4`),
                await bytes(`${base}${name}`),
              ]),
            );
            return firstVideoPts(file);
          }),
        );
        assert.ok(
          starts.every((start) => start === starts[0]),
          `segment ${msn} part ${part ?? 'all'} starts at ${starts.join(' / ')} s`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await publisher.stop();
      await server.stop();
    }
  },
);

/** The folder a playlist's media are in, relative to it: `x/` for `x.m3u8`. */
function urlPrefix(url: string): string {
  const name = new URL(url).pathname.split('/').pop() ?? '';
  return `${name.replace(/\.m3u8$/, '')}/`;
}

/** The earliest presentation time of the video in an fMP4 file, as ffprobe reads it. */
async function firstVideoPts(file: string): Promise<number> {
  const result = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v',
    '-show_entries',
    'packet=pts_time',
    '-of',
    'csv=p=0',
    file,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const times = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
  assert.ok(times.length > 0, `${file} has video`);
  return Math.min(...times);
}
