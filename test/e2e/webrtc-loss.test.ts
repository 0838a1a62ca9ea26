// End to end: a WHEP viewer in headless Chromium behind a lossy UDP relay (made here: netem is
// not available). Its first keyframe is dropped, so Chromium asks for one (PLI) and onair
// starts it on the stream's next keyframe; then every tenth video packet is dropped and the
// viewer's NACKs get them back from onair's packet ring, so almost none count as lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { expectVideoAdvances, waitForPage, withChromiumPage } from '../support/chromium.ts';
import { parseExposition } from '../support/prom-text.ts';
import { whepClientScript } from '../support/whep-page.ts';
import { rtpMarker, rtpPayloadType, startUdpRelay, type UdpRelay } from '../support/udp-relay.ts';

interface VideoInbound {
  framesDecoded: number;
  keyFramesDecoded: number;
  packetsReceived: number;
  packetsLost: number;
  nackCount: number;
  pliCount: number;
}

const VIDEO_INBOUND = `(async () => {
  if (!window.whep.pc) return null;
  for (const r of (await window.whep.pc.getStats()).values()) {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      return { framesDecoded: r.framesDecoded ?? 0, keyFramesDecoded: r.keyFramesDecoded ?? 0,
        packetsReceived: r.packetsReceived ?? 0, packetsLost: r.packetsLost ?? 0,
        nackCount: r.nackCount ?? 0, pliCount: r.pliCount ?? 0 };
    }
  }
  return null;
})()`;

void describe('WebRTC loss recovery (NACK, PLI) through a lossy relay', () => {
  let server: TestServer;
  let publisher: Publisher;
  let relay: UdpRelay;

  before(async () => {
    server = await startServer();
    relay = await startUdpRelay(server.onair.config.webrtc.udpPort);
    publisher = publishTestPattern(server.rtmpUrl('live/lossy'), { gop: 25, size: '640x360' });
    await waitFor(() => server.onair.hub.get('live/lossy')?.tracks.length === 2, 15_000, 'tracks');
  });

  after(async () => {
    await publisher.stop();
    await relay.close();
    await server.stop();
  });

  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const text = await (await fetch(server.httpUrl('metrics'))).text();
    const family = parseExposition(text).get(name);
    const sample = family?.samples.find((s) =>
      Object.entries(labels).every(([key, value]) => s.labels[key] === value),
    );
    return sample?.value ?? 0;
  };

  test('a lost first keyframe is asked for again, and lost packets come back through NACKs', async () => {
    await withChromiumPage(async (page, problems) => {
      const seen: { videoPt: number | null; firstFrameGone: boolean } = {
        videoPt: null,
        firstFrameGone: false,
      };
      // Until the first video frame has gone by (a keyframe: viewers start on one), drop it all.
      relay.setDrop((packet) => {
        const pt = rtpPayloadType(packet);
        if (pt === null || seen.firstFrameGone) return false;
        if (seen.videoPt !== null && pt !== seen.videoPt) return false; // audio passes
        if (rtpMarker(packet)) seen.firstFrameGone = true;
        return true;
      });
      await page.goto(server.httpUrl(''));
      const port = server.onair.config.webrtc.udpPort;
      // The answer's candidates point at the relay.
      const editAnswer = `answer.replaceAll(' ${port} typ host', ' ${relay.port} typ host')`;
      await page.evaluate(whepClientScript('/live/lossy/whep', { editAnswer }));
      await waitForPage(page, 'window.whep.status !== 0 || window.whep.error !== null', 15_000);
      assert.equal(await page.evaluate<number>('window.whep.status'), 201);
      const videoPt = await page.evaluate<number | null>('window.whep.videoPt');
      assert.ok(videoPt !== null, 'the answer has H.264');
      seen.videoPt = videoPt;

      // The first frame Chromium got was not a keyframe: it sent a PLI, onair counted it and
      // started the viewer on the next keyframe (never asking the publisher).
      await waitFor(
        async () => (await metric('onair_webrtc_keyframe_requests_total', { kind: 'pli' })) > 0,
        15_000,
        'a PLI counted by onair',
      );
      assert.ok(seen.firstFrameGone && relay.dropped > 0, 'the first keyframe was dropped');
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: 20_000 });
      const before = await page.evaluate<VideoInbound>(VIDEO_INBOUND);
      assert.ok(before.pliCount > 0, 'Chromium sent the PLI');

      // Every tenth video packet lost, until 60 are.
      const droppedBefore = relay.dropped;
      let videoPackets = 0;
      relay.setDrop((packet) => {
        if (rtpPayloadType(packet) !== videoPt) return false;
        videoPackets++;
        return videoPackets % 10 === 0 && relay.dropped - droppedBefore < 60;
      });
      await waitFor(() => relay.dropped - droppedBefore >= 60, 60_000, '60 packets dropped');
      relay.setDrop(() => false);
      await waitFor(
        async () =>
          (await metric('onair_webrtc_nacked_packets_total', { result: 'retransmitted' })) >= 30,
        15_000,
        'retransmits',
      );
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: 20_000 });
      const afterLoss = await page.evaluate<VideoInbound>(VIDEO_INBOUND);
      assert.ok(afterLoss.nackCount > before.nackCount, 'Chromium sent NACKs');
      // Retransmitted packets are received packets: without them all 60 would count as lost.
      const lost = afterLoss.packetsLost - before.packetsLost;
      assert.ok(lost < 30, `${lost} of 60 dropped packets stayed lost`);
      assert.ok(afterLoss.framesDecoded > before.framesDecoded, 'frames kept decoding');
      const retransmittedBytes = await metric('onair_webrtc_retransmitted_bytes_total', {});
      assert.ok(retransmittedBytes > 30 * 100, `retransmitted ${retransmittedBytes} bytes`);
      assert.deepEqual(problems.exceptions, []);
    });
  });
});
