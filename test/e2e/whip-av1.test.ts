// End to end: WebRTC ingest (WHIP) of AV1. Headless Chromium publishes its fake camera with AV1
// forced (setCodecPreferences with only AV1), so the offer has no H.264; the stream plays as AV1
// at the camera's size over HTTP-FLV (enhanced RTMP) and LL-HLS (fMP4), and a WHEP viewer is
// refused with 406 and the reason (WebRTC playback carries H.264 only).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import { assertVideo, probe, run, waitFor, type ProbedStream } from '../support/media-tools.ts';
import { FAKE_MEDIA_ARGS, waitForPage, withChromiumPage } from '../support/chromium.ts';
import { watchHttpFlv } from '../support/flv-reader.ts';
import { tempDir } from '../support/temp-dir.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';

const KEY = 'whip-av1-test-key-0123456789';
const PATH = 'live/av1';

/** Runs in the page: a 640x360 camera published over WHIP with AV1 only; state in window.whip. */
function whipAv1Script(url: string, key: string): string {
  return `(async () => {
    window.whip = { status: 0, error: null, offer: null, av1: false, whepStatus: 0, whepBody: '' };
    try {
      const codecs = (RTCRtpSender.getCapabilities('video')?.codecs ?? [])
        .filter((c) => c.mimeType.toLowerCase() === 'video/av1');
      window.whip.av1 = codecs.length > 0;
      if (codecs.length === 0) { window.whip.error = 'no AV1 in RTCRtpSender.getCapabilities'; return; }
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 360, frameRate: 25 },
        audio: false,
      });
      const pc = new RTCPeerConnection();
      const transceiver = pc.addTransceiver(media.getVideoTracks()[0], { direction: 'sendonly' });
      transceiver.setCodecPreferences(codecs);
      await pc.setLocalDescription(await pc.createOffer());
      window.whip.offer = pc.localDescription.sdp;
      const response = await fetch(${JSON.stringify(url)}, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ${key}' },
        body: pc.localDescription.sdp,
      });
      window.whip.status = response.status;
      const body = await response.text();
      if (response.status !== 201) { window.whip.error = body; return; }
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      window.whip.pc = pc;
    } catch (error) {
      window.whip.error = String(error);
    }
  })()`;
}

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
  const viewer = watchHttpFlv(url);
  try {
    const video = () => viewer.tags.filter((tag) => tag.type === FlvTagType.Video);
    await waitFor(() => video().length >= 30, 15_000, 'HTTP-FLV video tags');
    const tags = video();
    for (const tag of tags) {
      assert.equal(tag.body.toString('latin1', 1, 5), 'av01', 'enhanced-RTMP AV1 FourCC');
      assert.equal((tag.body[0] ?? 0) & 0x80, 0x80, 'an ExVideoTagHeader');
    }
    const first = tags[0]?.body[0] ?? 0;
    assert.equal(first & 0x0f, 0, 'the first tag is the sequence start (av1C)');
    assert.equal(tags[1]?.body[0] ?? 0, 0x80 | 0x10 | 1, 'then a key frame of coded frames');
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
  } finally {
    viewer.close();
  }
}

interface WhipState {
  status: number;
  error: string | null;
  offer: string | null;
  av1: boolean;
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
        await page.goto(server.httpUrl(''));
        await page.evaluate(whipAv1Script(`/${PATH}/whip`, KEY));
        await waitForPage(page, 'window.whip.status !== 0 || window.whip.error !== null', 15_000);
        const whip = await page.evaluate<WhipState>(
          '({ status: window.whip.status, error: window.whip.error, offer: window.whip.offer, av1: window.whip.av1 })',
        );
        // Debian's Chromium encodes AV1 (libaom): without it this test fails, never skips.
        assert.ok(whip.av1, whip.error ?? 'no AV1 encoder');
        assert.doesNotMatch(whip.offer ?? '', /H264\/90000/, 'the offer has AV1 only');
        assert.equal(whip.status, 201, whip.error ?? '');
        const videoTrack = () =>
          server.onair.hub.get(PATH)?.tracks.find((candidate) => candidate.kind === 'video');
        await waitFor(
          () => videoTrack()?.codec === 'av1',
          15_000,
          'the WHIP stream to have an AV1 track',
        );
        const track = videoTrack();
        assert.ok(track?.kind === 'video');
        assert.deepEqual([track.width, track.height], [640, 360]);

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
