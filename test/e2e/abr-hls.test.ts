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
import { encodeFlvHeader, encodeFlvTag, FlvTagType, type FlvTag } from '../../src/codecs/flv.ts';
import { startServer } from '../support/server.ts';
import { probe, publishTestPattern, run, waitFor } from '../support/media-tools.ts';
import { publishFlvFileLoop } from '../support/flv-file-publisher.ts';
import { readFlvFile } from '../support/flv-reader.ts';

/** One media playlist, read line by line (LL-HLS tags included). */
interface MediaView {
  /** `cc`: the segment's discontinuity sequence number (the playlist's plus the tags up to it). */
  readonly segments: {
    msn: number;
    dateMs: number;
    durationS: number;
    parts: number;
    cc: number;
  }[];
  readonly reports: string[];
}

function readMedia(text: string): MediaView {
  const lines = text.split('\n');
  let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  let cc = Number(/#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  const segments: MediaView['segments'] = [];
  let dateMs = NaN;
  let parts = 0;
  const reports: string[] = [];
  for (const line of lines) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) dateMs = Date.parse(line.slice(25));
    else if (line === '#EXT-X-DISCONTINUITY') cc++;
    else if (line.startsWith('#EXT-X-PART:')) parts++;
    else if (line.startsWith('#EXTINF:')) {
      segments.push({
        msn: msn++,
        dateMs,
        durationS: Number.parseFloat(line.slice(8)),
        parts,
        cc,
      });
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
      // Video-only variants, and the source's audio apart in one group every variant names.
      assert.deepEqual(
        variants.map((v) => v.uri),
        ['x.m3u8?variant=video', 'x_480p.m3u8?variant=video', 'x_240p.m3u8?variant=video'],
      );
      for (const variant of variants) {
        assert.deepEqual(
          variant.audio.map((a) => [a.groupId, a.uri, a.isDefault, a.channels]),
          // The test pattern's sine is mono.
          [['audio', 'x.m3u8?variant=audio', true, '1']],
        );
      }
      const audioUrl = new URL('x.m3u8?variant=audio', multivariantUrl).toString();
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

      // Each variant decodes as what the playlist says it is: video alone, the audio alone.
      for (const [index, url] of urls.entries()) {
        const streams = await probe(url);
        const video = streams.find((s) => s.codec_type === 'video');
        assert.equal(video?.codec_name, 'h264', url);
        assert.equal(video.height, variants[index]!.resolution?.height, url);
        assert.ok(!streams.some((s) => s.codec_type === 'audio'), `${url} has no audio`);
      }
      const sound = await probe(audioUrl);
      assert.deepEqual(
        sound.map((s) => [s.codec_type, s.codec_name]),
        [['audio', 'aac']],
      );
      // ffmpeg's own HLS client, given the multivariant playlist, finds both.
      const both = await probe(multivariantUrl);
      assert.ok(both.some((s) => s.codec_type === 'video' && s.codec_name === 'h264'));
      assert.ok(both.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac'));
      // The source's own playlist still carries both, for players given it alone.
      const muxed = await probe(server.httpUrl('live/x.m3u8?variant=source'));
      assert.deepEqual(muxed.map((s) => s.codec_type).sort(), ['audio', 'video']);

      // Three complete segments in common, then compare them number by number.
      let views: MediaView[] = [];
      let audio: MediaView | null = null;
      let common: number[] = [];
      await waitFor(
        async () => {
          views = await Promise.all(urls.map(async (url) => readMedia(await text(url))));
          audio = readMedia(await text(audioUrl));
          const sets = [...views, audio].map((view) => new Set(view.segments.map((s) => s.msn)));
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
          assert.equal(other.cc, source!.cc, `segment ${msn}: the same discontinuity sequence`);
          // Parts are listed for the newest segments only (and so for the newest of each).
          if (other.parts > 0 && source!.parts > 0) {
            assert.equal(other.parts, source!.parts, `segment ${msn}: the same parts`);
            partsCompared++;
          }
          assert.ok(Math.abs(other.durationS - source!.durationS) < 0.05, `segment ${msn}`);
        }
      }
      assert.ok(partsCompared >= 2, 'the parts of some segments were compared');
      // The audio is cut at the frame that plays at the source's cut: up to an AAC frame before.
      const audioView = audio as MediaView | null;
      assert.ok(audioView);
      for (const msn of common) {
        const source = views[0]!.segments.find((s) => s.msn === msn)!;
        const heard: MediaView['segments'][number] = audioView.segments.find((s) => s.msn === msn)!;
        const earlyMs = source.dateMs - heard.dateMs;
        // (Timestamps are whole milliseconds: a frame 2 ms late counts as at the cut.)
        assert.ok(
          earlyMs >= -2 && earlyMs <= 24,
          `audio segment ${msn} starts ${earlyMs} ms early`,
        );
        if (heard.parts > 0 && source.parts > 0) assert.equal(heard.parts, source.parts);
        assert.equal(heard.cc, source.cc, `audio segment ${msn}: the same discontinuity sequence`);
      }
      // Each variant reports the others and the audio; the audio reports the variants.
      assert.deepEqual(views[0]!.reports, [
        'x_480p.m3u8?variant=video',
        'x_240p.m3u8?variant=video',
        'x.m3u8?variant=audio',
      ]);
      assert.deepEqual(views[1]!.reports, [
        'x.m3u8?variant=video',
        'x_240p.m3u8?variant=video',
        'x.m3u8?variant=audio',
      ]);
      assert.deepEqual(audioView.reports, [
        'x.m3u8?variant=video',
        'x_480p.m3u8?variant=video',
        'x_240p.m3u8?variant=video',
      ]);

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

      // ffmpeg killed: restarted, the rendition's playlist continues on the source's grid (the
      // same numbers and dates). Before the ladder's publications kept the source's timestamps
      // over a restart (PublisherInfo.sourceTimeline) the hub moved them on, and no cut matched.
      const before = await text(urls[1]!);
      const mapBefore = /#EXT-X-MAP:URI="([^"]+)"/.exec(before)?.[1];
      const newestBefore = readMedia(before).segments.at(-1)?.msn ?? 0;
      const pid = server.onair.abr.get('live/x')?.pid ?? null;
      assert.ok(pid !== null);
      process.kill(pid, 'SIGKILL');
      await waitFor(
        () => server.onair.abr.get('live/x')?.restarts === 1,
        15_000,
        'the ladder to restart',
      );
      await waitFor(
        async () => {
          const answer = await fetch(urls[1]!, { signal: AbortSignal.timeout(10_000) });
          const body = await answer.text();
          if (answer.status !== 200) return false;
          const newest = readMedia(body).segments.at(-1)?.msn ?? 0;
          return newest > newestBefore + 2;
        },
        40_000,
        'the 480p playlist to continue after the restart',
      );
      const [after, sourceAfter] = await Promise.all([text(urls[1]!), text(urls[0]!)]);
      const restarted = readMedia(after).segments;
      const sourceSegments = readMedia(sourceAfter).segments;
      const last = restarted.at(-1)!;
      const twin = sourceSegments.find((segment) => segment.msn === last.msn);
      assert.ok(twin, `the source has segment ${last.msn} too`);
      assert.equal(last.dateMs, twin.dateMs, 'after the restart, the same date as the source');
      // ...and the same discontinuity sequence number (RFC 8216bis 6.2.4): the rendition's
      // playlist starts over on the source's count rather than add a discontinuity of its own.
      assert.equal(last.cc, twin.cc, `segment ${last.msn}: the source's discontinuity sequence`);
      // The new encoder's parameters come with a new init segment (timestamps run on).
      const mapOf = (playlist: string): string | undefined =>
        /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
      assert.notEqual(mapOf(after), mapBefore, 'a new EXT-X-MAP after the restart');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await publisher.stop();
      await server.stop();
    }
  },
);

void test(
  'enhanced RTMP multitrack video: track 1 is published as a rendition, no ffmpeg, in the multivariant playlist, cut on track 0',
  { timeout: 90_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onair-multitrack-'));
    // Two encodings of the same pictures, keyframes on the same frames (as OBS's multitrack
    // video sends them): 720p with the audio, and 360p.
    const made = await run(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-t', '8', '-i'],
        'testsrc2=size=1280x720:rate=25',
        ...['-f', 'lavfi', '-t', '8', '-i', 'sine=frequency=440:sample_rate=44100'],
        ...['-filter_complex', '[0:v]split=2[a][b];[b]scale=640:360[c]'],
        ...['-map', '[a]', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25'],
        ...['-sc_threshold', '0', '-bf', '0', '-c:a', 'aac', join(dir, 'main.flv')],
        ...['-map', '[c]', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25'],
        ...['-sc_threshold', '0', '-bf', '0', join(dir, 'low.flv')],
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(made.code, 0, made.stderr);
    const file = join(dir, 'multitrack.flv');
    writeFileSync(
      file,
      multitrackFlv(readFlvFile(join(dir, 'main.flv')), readFlvFile(join(dir, 'low.flv'))),
    );
    // A ladder is configured too: a stream whose encoder sends renditions gets no ffmpeg.
    const server = await startServer({
      abr: { renditions: [{ name: '240p', height: 240, videoKbps: 300 }] },
    });
    let publisher = await publishFlvFileLoop(server.rtmpUrl('live/mt'), file, {
      maxDurationMs: 80_000,
    });
    try {
      const { hub, abr } = server.onair;
      await waitFor(() => hub.get('live/mt_360p')?.publisher != null, 20_000, 'live/mt_360p');
      assert.deepEqual(hub.renditions.renditionsOf('live/mt'), ['live/mt_360p']);
      await waitFor(() => abr.get('live/mt')?.state === 'no-renditions', 20_000, 'no ladder');
      assert.equal(hub.get('live/mt_240p'), undefined, 'no ffmpeg rendition');
      const streams = await probe(server.httpUrl('live/mt_360p.flv'));
      const video = streams.find((s) => s.codec_type === 'video');
      assert.deepEqual([video?.codec_name, video?.width, video?.height], ['h264', 640, 360]);

      const multivariantUrl = server.httpUrl('live/mt.m3u8');
      const parsed = HLS.parse(await text(multivariantUrl));
      if (!parsed.isMasterPlaylist) assert.fail('live/mt.m3u8 is a multivariant playlist');
      assert.deepEqual(
        parsed.variants.map((v) => [v.uri, v.resolution?.height]),
        [
          ['mt.m3u8?variant=video', 720],
          ['mt_360p.m3u8?variant=video', 360],
        ],
      );
      // Track 1 has no audio of its own: with the audio apart, it plays with track 0's.
      assert.ok(parsed.variants.every((v) => v.audio[0]?.uri === 'mt.m3u8?variant=audio'));
      const urls = parsed.variants.map((v) => new URL(v.uri, multivariantUrl).toString());
      let views: MediaView[] = [];
      await waitFor(
        async () => {
          views = await Promise.all(urls.map(async (url) => readMedia(await text(url))));
          return views.every((view) => view.segments.length >= 3);
        },
        30_000,
        'three segments in each variant',
      );
      const [main, low] = views as [MediaView, MediaView];
      const common = low.segments.filter((s) => main.segments.some((m) => m.msn === s.msn));
      assert.ok(common.length >= 2, JSON.stringify(views));
      for (const segment of common) {
        const twin = main.segments.find((m) => m.msn === segment.msn)!;
        assert.equal(segment.dateMs, twin.dateMs, `segment ${segment.msn}: the same date`);
        assert.ok(Math.abs(segment.durationS - twin.durationS) < 0.05, `segment ${segment.msn}`);
      }
      assert.deepEqual(low.reports, ['mt.m3u8?variant=video', 'mt.m3u8?variant=audio']);

      // The encoder reconnects within the grace period, its timestamps from 0 again: the hub
      // moves track 0 and track 1 on by the same amount, so track 1 stays on track 0's grid.
      const lowBefore = low.segments.at(-1)!.msn;
      await publisher.stop();
      await waitFor(() => hub.get('live/mt')?.state === 'grace', 5000, 'live/mt in its grace');
      publisher = await publishFlvFileLoop(server.rtmpUrl('live/mt'), file, {
        maxDurationMs: 60_000,
      });
      let resumed: MediaView[] = [];
      await waitFor(
        async () => {
          resumed = await Promise.all(urls.map(async (url) => readMedia(await text(url))));
          return (resumed[1]?.segments.at(-1)?.msn ?? 0) > lowBefore + 3;
        },
        30_000,
        'track 1 to continue after the reconnect',
      );
      const [mainAfter, lowAfter] = resumed as [MediaView, MediaView];
      const newest = lowAfter.segments.at(-1)!;
      const twinAfter = mainAfter.segments.find((m) => m.msn === newest.msn);
      assert.ok(twinAfter, `track 0 has segment ${newest.msn}`);
      assert.equal(newest.dateMs, twinAfter.dateMs, 'after the reconnect, the same date');
      assert.equal(newest.cc, twinAfter.cc, 'and the same discontinuity sequence');
    } finally {
      await publisher.stop();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    // The publisher gone, its renditions are too.
    assert.deepEqual(server.onair.hub.renditions.renditionsOf('live/mt'), []);
  },
);

/**
 * One FLV of two: `main` as it is (track 0), and the video of `low` as enhanced RTMP multitrack
 * messages of track 1 (OneTrack, avc1), each right after the main picture of the same time.
 */
function multitrackFlv(main: readonly FlvTag[], low: readonly FlvTag[]): Buffer {
  // One encoder has one clock: ffmpeg moved the video of the file with audio on by the AAC
  // priming (23 ms), so the low track is moved the same.
  const firstVideo = (tags: readonly FlvTag[]): number =>
    tags.find((tag) => tag.type === FlvTagType.Video && tag.body[1] === 1)?.timestamp ?? 0;
  const shift = firstVideo(main) - firstVideo(low);
  const lowVideo = low
    .filter((tag) => tag.type === FlvTagType.Video)
    .map((tag) => ({
      ...tag,
      timestamp: tag.body[1] === 1 ? tag.timestamp + shift : tag.timestamp,
    }));
  const out: Buffer[] = [encodeFlvHeader({ audio: true, video: true })];
  let next = 0;
  const flushLow = (untilMs: number): void => {
    while (next < lowVideo.length && lowVideo[next]!.timestamp <= untilMs) {
      const tag = lowVideo[next++]!;
      out.push(encodeFlvTag(FlvTagType.Video, tag.timestamp, oneTrack(tag.body, 1)));
    }
  };
  for (const tag of main) {
    out.push(encodeFlvTag(tag.type, tag.timestamp, tag.body));
    if (tag.type === FlvTagType.Video) flushLow(tag.timestamp);
  }
  flushLow(Number.POSITIVE_INFINITY);
  return Buffer.concat(out);
}

/** A legacy AVC tag body as an enhanced RTMP OneTrack multitrack body of `trackId`. */
function oneTrack(avc: Buffer, trackId: number): Buffer {
  const frameType = (avc[0] ?? 0) >> 4;
  const packetType = avc[1] === 0 ? 0 : 1; // SequenceStart, or CodedFrames (SI24 cts kept)
  const data = avc[1] === 0 ? avc.subarray(5) : avc.subarray(2);
  return Buffer.concat([
    Buffer.from([0x80 | (frameType << 4) | 6, packetType]),
    Buffer.from('avc1', 'latin1'),
    Buffer.from([trackId]),
    data,
  ]);
}

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
