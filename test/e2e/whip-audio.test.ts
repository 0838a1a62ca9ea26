// End to end: the audio of a WHIP publisher on each output. Chromium publishes its fake camera
// and microphone (H.264 + Opus); HTTP-FLV carries AAC (an AudioSpecificConfig header, then raw
// AAC near the video's timestamps) that ffmpeg decodes without errors, made by one ffmpeg that
// runs only while FLV viewers watch; LL-HLS (fMP4) still carries the Opus itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, type TestServer } from '../support/server.ts';
import type { Page } from 'playwright-core';
import { probe, run, waitFor, type ProbedStream } from '../support/media-tools.ts';
import { watchHttpFlv } from '../support/flv-reader.ts';
import { FAKE_MEDIA_ARGS, withChromiumPage } from '../support/chromium.ts';
import { publishWhip } from '../support/whep-page.ts';

const KEY = 'whip-audio-key-0123456789';
const PATH = 'live/whipaudio';
const SOUND_FORMAT_AAC = 10;
const SOUND_FORMAT_EX_HEADER = 9;

/** ffmpeg processes this test process started that encode AAC in ADTS (the transcoder). */
function adtsEncoders(): number {
  const out = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'args='], {
    encoding: 'utf8',
  });
  return out.split('\n').filter((line) => line.includes('ffmpeg') && line.includes('adts')).length;
}

/** Publishes Chromium's fake camera and microphone to PATH over WHIP; waits for both tracks. */
async function publishFrom(page: Page, server: TestServer): Promise<void> {
  await publishWhip(page, server.httpUrl(''), `/${PATH}/whip`, KEY, { audio: true });
  await waitFor(
    () => server.onair.hub.get(PATH)?.tracks.length === 2,
    15_000,
    'the WHIP stream to have video and audio',
  );
}

const codecsOf = (streams: readonly ProbedStream[]): string[] =>
  streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort();

void describe('WHIP audio on every output', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ streams: { [PATH]: { publishKey: KEY } } });
  });

  after(async () => {
    await server.stop();
  });

  test('Opus from Chromium is AAC on HTTP-FLV and Opus on LL-HLS', async () => {
    await withChromiumPage(
      async (page, problems) => {
        await publishFrom(page, server);
        assert.equal(adtsEncoders(), 0, 'no transcoder before an FLV viewer');

        // onair's own FLV reader: an AAC sequence header, then raw AAC beside the video.
        const viewer = watchHttpFlv(server.httpUrl(`${PATH}.flv`));
        try {
          const audioTags = () => viewer.tags.filter((t) => t.type === 8);
          await waitFor(() => audioTags().length >= 50, 15_000, '50 audio tags on HTTP-FLV');
          const formats = new Set(audioTags().map((t) => (t.body[0] ?? 0) >>> 4));
          assert.deepEqual([...formats], [SOUND_FORMAT_AAC], 'every audio tag is AAC');
          assert.ok(!formats.has(SOUND_FORMAT_EX_HEADER), 'no enhanced-RTMP Opus');
          const [header, ...media] = audioTags();
          assert.ok(header !== undefined);
          assert.equal(header.body[1], 0, 'the first audio tag is the AAC sequence header');
          assert.deepEqual([...header.body.subarray(2)], [0x11, 0x90], 'LC 48k stereo');
          assert.ok(
            media.every((t) => t.body[1] === 1),
            'then raw AAC frames',
          );
          const video = viewer.tags.filter((t) => t.type === 9 && t.body[1] === 1);
          const firstVideoMs = video[0]?.timestamp ?? NaN;
          const firstAudioMs = media[0]?.timestamp ?? NaN;
          assert.ok(
            Math.abs(firstAudioMs - firstVideoMs) < 1000,
            `audio (${firstAudioMs} ms) is on the video's timeline (${firstVideoMs} ms)`,
          );
          const steps = media.slice(1).map((t, i) => t.timestamp - (media[i]?.timestamp ?? 0));
          assert.ok(
            steps.every((s) => s >= 0 && s < 200),
            `audio timestamps advance: ${steps.join(' ')}`,
          );
          assert.equal(adtsEncoders(), 1, 'one ffmpeg transcodes for the FLV viewers');

          // ffprobe and ffmpeg, the classic clients: AAC, decoded without an error.
          const probed = await probe(server.httpUrl(`${PATH}.flv`));
          assert.deepEqual(probed.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
            'audio:aac',
            'video:h264',
          ]);
          const decoded = await run(
            'ffmpeg',
            [
              ...['-v', 'error', '-xerror', '-rw_timeout', '10000000'],
              ...['-i', server.httpUrl(`${PATH}.flv`), '-t', '2', '-map', '0:a:0'],
              ...['-f', 'framecrc', '-'],
            ],
            { timeoutMs: 30_000 },
          );
          assert.equal(decoded.code, 0, decoded.stderr);
          assert.equal(decoded.stderr.trim(), '', 'no decoder errors');
          const frames = decoded.stdout.split('\n').filter((l) => /^0,/.test(l));
          assert.ok(frames.length >= 60, `2 s of decoded audio frames: ${frames.length}`);
          // RTMP play is FLV too: AAC, from the same ffmpeg.
          assert.deepEqual(codecsOf(await probe(server.rtmpUrl(PATH))), [
            'audio:aac',
            'video:h264',
          ]);
          assert.equal(adtsEncoders(), 1, 'still one ffmpeg for all FLV and RTMP viewers');
        } finally {
          viewer.close();
        }
        await waitFor(
          () => adtsEncoders() === 0,
          10_000,
          'the transcoder to stop with the last viewer',
        );

        const hls = await probe(server.httpUrl(`${PATH}.m3u8`));
        assert.deepEqual(hls.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
          'audio:opus',
          'video:h264',
        ]);
        assert.deepEqual(problems.exceptions, []);
      },
      { args: FAKE_MEDIA_ARGS },
    );
  });

  test('on the MPEG-TS HLS profile (compatible) the Opus is AAC too', async () => {
    const tsServer = await startServer({
      streams: { [PATH]: { publishKey: KEY } },
      hls: { profile: 'compatible' },
    });
    try {
      await withChromiumPage(
        async (page, problems) => {
          await publishFrom(page, tsServer);
          assert.equal(adtsEncoders(), 0, 'no transcoder before an HLS viewer');
          assert.deepEqual(codecsOf(await probe(tsServer.httpUrl(`${PATH}.m3u8`))), [
            'audio:aac',
            'video:h264',
          ]);
          assert.equal(adtsEncoders(), 1, 'one ffmpeg for the TS segments');
          assert.deepEqual(problems.exceptions, []);
        },
        { args: FAKE_MEDIA_ARGS },
      );
    } finally {
      await tsServer.stop();
    }
  });
});
