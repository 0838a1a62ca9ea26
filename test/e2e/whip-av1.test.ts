// End to end: WebRTC ingest (WHIP) of AV1. Headless Chromium publishes its fake camera with AV1
// forced (setCodecPreferences with only AV1), so the offer has no H.264; the stream plays as AV1
// at the camera's size over HTTP-FLV (enhanced RTMP) and LL-HLS (fMP4), and a WHEP viewer is
// refused with 406 and the reason (WebRTC playback carries H.264 only).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, waitForVideoTrack, type TestServer } from '../support/server.ts';
import { assertVideo, probe, run, type ProbedStream } from '../support/media-tools.ts';
import { FAKE_MEDIA_ARGS, waitForPage, withChromiumPage } from '../support/chromium.ts';
import { enhancedFlvVideoTags } from '../support/flv-reader.ts';
import { tempDir } from '../support/temp-dir.ts';
import { publishWhip } from '../support/whep-page.ts';

const KEY = 'whip-av1-test-key-0123456789';
const PATH = 'live/av1';

/** Runs in the page: a recvonly WHEP offer for `url`; the answer's status and body. */
function whepScript(url: string): string {
  return `(async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch(${JSON.stringify(url)}, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    window.whip.whepStatus = response.status;
    window.whip.whepBody = await response.text();
    pc.close();
  })()`;
}

/**
 * ffprobe of the AV1 in a live HTTP-FLV stream. ffprobe 5.1 reads no enhanced FLV, so onair's
 * own FLV decoder takes the tags, checks the enhanced-RTMP headers (`av01`, a sequence start,
 * then a key frame) and writes the coded frames' OBUs, each temporal unit after a temporal
 * delimiter, as a raw OBU stream (ffmpeg's `obu` demuxer) for ffprobe.
 */
async function probeFlvAv1(url: string, dir: string): Promise<ProbedStream[]> {
  const tags = await enhancedFlvVideoTags(url, 'av01');
  const delimiter = Buffer.from([0x12, 0x00]);
  const obus = tags.slice(1).flatMap((tag) => [delimiter, tag.body.subarray(5)]);
  const file = join(dir, 'flv.obu');
  writeFileSync(file, Buffer.concat(obus));
  const result = await run('ffprobe', [
    ...['-v', 'error', '-f', 'obu'],
    ...['-show_entries', 'stream=codec_type,codec_name,width,height', '-of', 'json', file],
  ]);
  if (result.code !== 0)
    throw new Error(`ffprobe ${file} failed (${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { streams: ProbedStream[] }).streams;
}

void describe('WebRTC ingest (WHIP) of AV1', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ streams: { [PATH]: { publishKey: KEY } } });
  });

  after(async () => {
    await server.stop();
  });

  test('Chromium publishes AV1 over WHIP; HTTP-FLV and LL-HLS carry it; WHEP refuses it', async (t) => {
    await withChromiumPage(
      async (page, problems) => {
        const whip = await publishWhip(page, server.httpUrl(''), `/${PATH}/whip`, KEY, {
          onlyVideo: 'video/AV1',
        });
        assert.doesNotMatch(whip.offer ?? '', /H264\/90000/, 'the offer has AV1 only');
        await waitForVideoTrack(server, PATH, 'av1', [640, 360]);

        const flv = await probeFlvAv1(server.httpUrl(`${PATH}.flv`), tempDir(t));
        assertVideo(flv, 'av1', [640, 360], 'HTTP-FLV');
        assertVideo(await probe(server.httpUrl(`${PATH}.m3u8`)), 'av1', [640, 360], 'LL-HLS');

        await page.evaluate(whepScript(`/${PATH}/whep`));
        await waitForPage(page, 'window.whip.whepStatus !== 0', 10_000);
        const whep = await page.evaluate<{ status: number; body: string }>(
          '({ status: window.whip.whepStatus, body: window.whip.whepBody })',
        );
        assert.equal(whep.status, 406);
        assert.match(whep.body, /av1; WebRTC playback carries H\.264/);
        assert.deepEqual(problems.exceptions, []);
      },
      { args: FAKE_MEDIA_ARGS },
    );
  });
});
