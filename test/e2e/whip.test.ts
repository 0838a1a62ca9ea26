// End to end: WebRTC ingest (WHIP). Headless Chromium publishes its fake camera and microphone
// with the stream's publish key as a Bearer; the stream plays over HTTP-FLV (H.264 at the
// camera's size) and LL-HLS (H.264 + Opus); the publisher is a webrtc session until its DELETE.
// A wrong key, a busy path and bad offers are refused and publish nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertVideo, probe, run, waitFor, type ProbedStream } from '../support/media-tools.ts';
import { FAKE_MEDIA_ARGS, withChromiumPage } from '../support/chromium.ts';
import { publishWhip } from '../support/whep-page.ts';

const KEY = 'whip-test-key-0123456789';
const PATH = 'live/keyed';

/**
 * ffprobe of a live HTTP-FLV URL, reading 100 kB at most: ffprobe 5.1 does not know enhanced
 * FLV's Opus, and would read megabytes trying to find out what that audio is.
 */
async function probeFlv(url: string): Promise<ProbedStream[]> {
  const result = await run('ffprobe', [
    ...['-v', 'error', '-probesize', '100000', '-rw_timeout', '10000000'],
    ...['-show_entries', 'stream=codec_type,codec_name,width,height', '-of', 'json', url],
  ]);
  if (result.code !== 0)
    throw new Error(`ffprobe ${url} failed (${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { streams: ProbedStream[] }).streams;
}

void describe('WebRTC ingest (WHIP)', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ streams: { [PATH]: { publishKey: KEY } } });
  });

  after(async () => {
    await server.stop();
  });

  const post = (body: string, headers: Record<string, string>, path = `${PATH}/whip`) =>
    fetch(server.httpUrl(path), { method: 'POST', headers, body });
  const sdp = (key?: string): Record<string, string> => ({
    'Content-Type': 'application/sdp',
    ...(key === undefined ? {} : { Authorization: `Bearer ${key}` }),
  });
  const publishers = () =>
    server.onair.sessions
      .list()
      .filter((s) => s.role === 'publisher' && s.protocol === 'webrtc' && s.path === PATH);

  test('Chromium publishes over WHIP; HTTP-FLV and LL-HLS carry it; DELETE ends it', async () => {
    await withChromiumPage(
      async (page, problems) => {
        const whip = await publishWhip(page, server.httpUrl(''), `/${PATH}/whip`, KEY, {
          audio: true,
        });
        assert.match(whip.location ?? '', /^\/live\/keyed\/whip\/[0-9a-f]{32}$/);
        await waitFor(
          () => server.onair.hub.get(PATH)?.tracks.length === 2,
          15_000,
          'the WHIP stream to have video and audio',
        );
        assert.equal(publishers().length, 1, 'one webrtc publisher session');

        const flv = await probeFlv(server.httpUrl(`${PATH}.flv`));
        assertVideo(flv, 'h264', [640, 360], 'HTTP-FLV');
        const hls = await probe(server.httpUrl(`${PATH}.m3u8`));
        assert.deepEqual(hls.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
          'audio:opus',
          'video:h264',
        ]);
        assert.ok((publishers()[0]?.bytes?.() ?? 0) > 10_000, 'bytes received are counted');

        // The path is taken: a second offer (with the right key) gets 409, the first goes on.
        const busy = await post(whip.offer ?? '', sdp(KEY));
        assert.equal(busy.status, 409, await busy.text());
        // A wrong method on the endpoint or the resource: 405.
        assert.equal((await fetch(server.httpUrl(`${PATH}/whip`))).status, 405);
        const resource = server.httpUrl(whip.location!.slice(1));
        const bearer = { Authorization: `Bearer ${KEY}` };
        assert.equal((await fetch(resource, { method: 'PATCH', headers: bearer })).status, 405);
        // The resource is bound to the Bearer of its offer: without it, DELETE is refused.
        assert.equal((await fetch(resource, { method: 'DELETE' })).status, 401);
        assert.equal((await fetch(resource, { method: 'DELETE', headers: bearer })).status, 200);
        await waitFor(() => publishers().length === 0, 5000, 'the publisher session to end');
        await waitFor(
          () => server.onair.hub.get(PATH)?.publisher == null,
          5000,
          'the publication to end',
        );
        assert.equal((await fetch(resource, { method: 'DELETE' })).status, 404);
        assert.deepEqual(problems.exceptions, []);

        // A wrong key: 401, and nothing is published.
        const wrong = await post(whip.offer ?? '', sdp('not-the-key'));
        assert.equal(wrong.status, 401);
        const none = await post(whip.offer ?? '', sdp());
        assert.equal(none.status, 401);
        assert.equal(server.onair.hub.get(PATH)?.publisher ?? null, null, 'no stream appears');
      },
      { args: FAKE_MEDIA_ARGS },
    );
  });

  test('bad offers are refused with the reason', async () => {
    assert.equal(
      (await post('v=0\r\n', { 'Content-Type': 'text/plain', Authorization: `Bearer ${KEY}` }))
        .status,
      415,
    );
    const garbage = await post('not sdp at all', sdp(KEY));
    assert.equal(garbage.status, 400);
    assert.match(await garbage.text(), /bad offer/);
    assert.equal((await post('x'.repeat(200 * 1024), sdp(KEY))).status, 413);
    const vp9 =
      'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP9/90000\r\n';
    const refused = await post(vp9, sdp(KEY));
    assert.equal(refused.status, 406);
    assert.match(await refused.text(), /WHIP ingest takes H\.264, AV1 or VP8/);
    assert.equal(server.onair.hub.get(PATH)?.publisher ?? null, null);
    assert.equal(publishers().length, 0);
  });
});
