// End to end: WebRTC ingest (WHIP) of VP8. Headless Chromium publishes its fake camera with VP8
// forced (setCodecPreferences with only VP8, as Firefox without OpenH264 offers), so the offer has
// no H.264 or AV1; the stream plays as VP8 at the camera's size over HTTP-FLV (enhanced RTMP
// vp08) and LL-HLS (fMP4 vp08 + vpcC), and to a WHEP viewer as it came (RFC 7741), which
// decodes it at that size.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, waitForVideoTrack, type TestServer } from '../support/server.ts';
import { assertVideo, probe, run, type ProbedStream } from '../support/media-tools.ts';
import { FAKE_MEDIA_ARGS, waitForPage, withChromiumPage } from '../support/chromium.ts';
import { enhancedFlvVideoTags } from '../support/flv-reader.ts';
import { publishWhip, whepClientScript } from '../support/whep-page.ts';
import { tempDir } from '../support/temp-dir.ts';

const KEY = 'whip-vp8-test-key-0123456789';
const PATH = 'live/vp8';

/** In the page: the WHEP viewer's decoded video frames and their size. */
const WHEP_STATS = `(async () => {
  const stats = await window.whep.pc.getStats();
  for (const report of stats.values()) {
    if (report.type === 'inbound-rtp' && report.kind === 'video') {
      return { framesDecoded: report.framesDecoded ?? 0, width: report.frameWidth ?? 0, height: report.frameHeight ?? 0 };
    }
  }
  return { framesDecoded: 0, width: 0, height: 0 };
})()`;

/**
 * ffprobe of the VP8 in a live HTTP-FLV stream. ffprobe 5.1 reads no enhanced FLV, so onair's
 * own FLV decoder takes the tags, checks the enhanced-RTMP headers (`vp08`, a sequence start
 * with the VPCodecConfigurationRecord, then a key frame of coded frames) and writes the frames
 * to an IVF file (32-byte DKIF header, then a 12-byte header per frame) for `ffprobe -f ivf`.
 */
async function probeFlvVp8(url: string, dir: string): Promise<ProbedStream[]> {
  const tags = await enhancedFlvVideoTags(url, 'vp08');
  assert.equal(tags[0]?.body.length, 5 + 8, 'an 8-byte VPCodecConfigurationRecord');
  const frames = tags.slice(1).map((tag) => tag.body.subarray(5));
  const header = Buffer.alloc(32);
  header.write('DKIF', 0, 'latin1');
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8, 'latin1');
  header.writeUInt16LE(640, 12);
  header.writeUInt16LE(360, 14);
  header.writeUInt32LE(1000, 16); // timebase 1/1000: the FLV timestamps
  header.writeUInt32LE(1, 20);
  header.writeUInt32LE(frames.length, 24);
  const records = tags.slice(1).flatMap((tag, i) => {
    const frameHeader = Buffer.alloc(12);
    frameHeader.writeUInt32LE(frames[i]?.length ?? 0, 0);
    frameHeader.writeBigUInt64LE(BigInt(tag.timestamp), 4);
    return [frameHeader, frames[i] ?? Buffer.alloc(0)];
  });
  const file = join(dir, 'flv.ivf');
  writeFileSync(file, Buffer.concat([header, ...records]));
  const result = await run('ffprobe', [
    ...['-v', 'error', '-f', 'ivf', '-count_frames'],
    ...['-show_entries', 'stream=codec_type,codec_name,width,height,nb_read_frames'],
    ...['-of', 'json', file],
  ]);
  if (result.code !== 0 || result.stderr.trim() !== '')
    throw new Error(`ffprobe ${file} failed (${result.code}): ${result.stderr}`);
  const streams = (
    JSON.parse(result.stdout) as { streams: (ProbedStream & { nb_read_frames?: string })[] }
  ).streams;
  assert.equal(Number(streams[0]?.nb_read_frames), frames.length, 'every frame decodes');
  return streams;
}

void describe('WebRTC ingest (WHIP) of VP8', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ streams: { [PATH]: { publishKey: KEY } } });
  });

  after(async () => {
    await server.stop();
  });

  test('Chromium publishes VP8 over WHIP; HTTP-FLV, LL-HLS and WHEP carry it', async (t) => {
    await withChromiumPage(
      async (page, problems) => {
        const whip = await publishWhip(page, server.httpUrl(''), `/${PATH}/whip`, KEY, {
          onlyVideo: 'video/VP8',
        });
        assert.doesNotMatch(whip.offer ?? '', /H264\/90000|AV1\/90000/, 'the offer has VP8 only');
        assert.match(whip.offer ?? '', /VP8\/90000/);
        await waitForVideoTrack(server, PATH, 'vp8', [640, 360]);

        const flv = await probeFlvVp8(server.httpUrl(`${PATH}.flv`), tempDir(t));
        assertVideo(flv, 'vp8', [640, 360], 'HTTP-FLV');
        assertVideo(await probe(server.httpUrl(`${PATH}.m3u8`)), 'vp8', [640, 360], 'LL-HLS');

        await page.evaluate(whepClientScript(`/${PATH}/whep`));
        await waitForPage(page, 'window.whep.status !== 0 || window.whep.error !== null', 15_000);
        const whep = await page.evaluate<{ status: number; error: string | null; answer: string }>(
          '({ status: window.whep.status, error: window.whep.error, answer: window.whep.answer })',
        );
        assert.equal(whep.status, 201, whep.error ?? '');
        assert.match(whep.answer, /a=rtpmap:\d+ VP8\/90000/, 'the answer sends VP8');
        // The WHEP viewer decodes the VP8 as it came from the publisher, at its size.
        let stats = { framesDecoded: 0, width: 0, height: 0 };
        const deadline = Date.now() + 20_000;
        while (stats.framesDecoded < 25) {
          if (Date.now() > deadline)
            assert.fail(`WHEP VP8 did not decode: ${JSON.stringify(stats)}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
          stats = await page.evaluate<typeof stats>(WHEP_STATS);
        }
        assert.deepEqual([stats.width, stats.height], [640, 360]);
        assert.deepEqual(problems.exceptions, []);
      },
      { args: FAKE_MEDIA_ARGS },
    );
  });
});
