// RtpStreamOutput's per-viewer sequence numbers and loss recovery, with viewers that record what
// they are sent (copies: the output rewrites the shared packet's header for each viewer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeNack, encodePli } from '../../codecs/rtcp.ts';
import { parseRtp } from '../../codecs/rtp.ts';
import { Vp8Depacketizer, buildVp8CodecConfig } from '../../codecs/rtp-vp8.ts';
import { testTracks, videoFrame } from '../../../test/support/media-frames.ts';
import type { Frame } from '../../media/frame.ts';
import { isNonReference, RtpStreamOutput, rtpTracksOf, type RtpViewer } from './rtp-stream.ts';

interface Recorder extends RtpViewer {
  readonly video: Buffer[];
  full: boolean;
}

function recorder(videoPayloadType: number): Recorder {
  const video: Buffer[] = [];
  const viewer: Recorder = {
    video,
    full: false,
    videoPayloadType,
    audioPayloadType: null,
    ready: true,
    get writable() {
      return !viewer.full;
    },
    sendVideo: (packet) => {
      if (viewer.full) return false;
      video.push(Buffer.from(packet));
      return true;
    },
    sendAudio: () => true,
    end: () => undefined,
  };
  return viewer;
}

function seqs(packets: readonly Buffer[]): number[] {
  return packets.map((packet) => parseRtp(packet)?.sequenceNumber ?? -1);
}

/** True when each number follows the one before (mod 2^16). */
function gapless(numbers: readonly number[]): boolean {
  return numbers.every((n, i) => i === 0 || n === (((numbers[i - 1] ?? 0) + 1) & 0xffff));
}

function feed(output: RtpStreamOutput, fromMs: number, count: number, gop = 5): void {
  for (let i = 0; i < count; i++) output.onFrame(videoFrame(fromMs + i * 40, i % gop === 0));
}

describe('RtpStreamOutput', () => {
  it('gives each viewer its own gapless numbers and payload type over the shared packets', () => {
    const output = new RtpStreamOutput(() => undefined);
    output.onTracks(testTracks('video'));
    const a = recorder(102);
    const b = recorder(96);
    output.add(a);
    feed(output, 0, 3);
    output.add(b);
    feed(output, 120, 12);
    // b had to wait for a keyframe and a skipped two frames while full: no gap either way.
    a.full = true;
    feed(output, 600, 2, 1000);
    a.full = false;
    feed(output, 680, 10);
    for (const [viewer, pt] of [
      [a, 102],
      [b, 96],
    ] as const) {
      assert.ok(viewer.video.length > 10);
      assert.ok(gapless(seqs(viewer.video)), `viewer ${pt} numbers are gapless`);
      assert.ok(viewer.video.every((packet) => parseRtp(packet)?.payloadType === pt));
    }
    assert.equal(output.droppedFrames(a), 1); // the keyframe it could not take
  });

  it('answers a NACK with the very packet, under the viewer number asked for', () => {
    const output = new RtpStreamOutput(() => undefined);
    output.onTracks(testTracks('video'));
    const viewer = recorder(102);
    output.add(viewer);
    feed(output, 0, 10);
    const sent = viewer.video.length;
    const wanted = [viewer.video[2], viewer.video[sent - 1]].map((p) => p as Buffer);
    const nack = encodeNack(1, output.videoSsrc, seqs(wanted));
    assert.ok(nack);
    output.feedback(viewer, nack);
    const again = viewer.video.slice(sent);
    assert.deepEqual(again, wanted);
    const counts = output.lossRecovery(viewer);
    assert.equal(counts.nackedPackets, 2);
    assert.equal(counts.retransmittedPackets, 2);
    assert.equal(counts.retransmittedBytes, (wanted[0]?.length ?? 0) + (wanted[1]?.length ?? 0));
  });

  it('does not answer NACKs for packets it never sent that viewer, or for another SSRC', () => {
    const output = new RtpStreamOutput(() => undefined);
    output.onTracks(testTracks('video'));
    const viewer = recorder(102);
    output.add(viewer);
    feed(output, 0, 5);
    const sent = viewer.video.length;
    const last = parseRtp(viewer.video[sent - 1] as Buffer)?.sequenceNumber ?? 0;
    const ahead = encodeNack(1, output.videoSsrc, [(last + 1) & 0xffff, (last + 500) & 0xffff]);
    const other = encodeNack(1, output.videoSsrc ^ 1, [last]);
    assert.ok(ahead && other);
    output.feedback(viewer, ahead);
    output.feedback(viewer, other);
    output.feedback(viewer, Buffer.from([0x81, 0xcd, 0xff, 0xff])); // a length past the end
    assert.equal(viewer.video.length, sent);
    const counts = output.lossRecovery(viewer);
    assert.equal(counts.unavailablePackets, 2);
    assert.equal(counts.retransmittedPackets, 0);
    assert.equal(counts.malformedRtcp, 1);
  });

  it('keeps retransmits within the viewer budget however much it asks', () => {
    const output = new RtpStreamOutput(() => undefined);
    output.onTracks(testTracks('video'));
    const viewer = recorder(102);
    output.add(viewer);
    feed(output, 0, 25);
    const all = seqs(viewer.video);
    const bytesSent = viewer.video.reduce((sum, packet) => sum + packet.length, 0);
    const nack = encodeNack(1, output.videoSsrc, all);
    assert.ok(nack);
    for (let i = 0; i < 20; i++) output.feedback(viewer, nack);
    const counts = output.lossRecovery(viewer);
    assert.equal(counts.nackedPackets, 20 * all.length);
    assert.ok(counts.overBudgetPackets > 0, 'some were refused');
    // A fresh budget holds 64 KiB; the test runs in far less than a second of refill.
    assert.ok(counts.retransmittedBytes <= 64 * 1024 + 2 * bytesSent);
  });

  it('after a PLI sends no inter-frame until the next keyframe, and never asks the publisher', () => {
    const output = new RtpStreamOutput(() => undefined);
    output.onTracks(testTracks('video'));
    const viewer = recorder(102);
    output.add(viewer);
    feed(output, 0, 3, 5); // keyframe, 2 inter-frames
    const before = viewer.video.length;
    output.feedback(viewer, encodePli(1, output.videoSsrc));
    output.onFrame(videoFrame(120, false));
    output.onFrame(videoFrame(160, false));
    assert.equal(viewer.video.length, before, 'inter-frames withheld');
    output.onFrame(videoFrame(200, true));
    assert.ok(viewer.video.length > before, 'resumed on the keyframe');
    assert.ok(gapless(seqs(viewer.video)));
    assert.equal(output.lossRecovery(viewer).pli, 1);
  });

  it('keeps the loss counts of viewers that left in its totals', () => {
    const output = new RtpStreamOutput(() => undefined);
    output.onTracks(testTracks('video'));
    const viewer = recorder(102);
    const stays = recorder(102);
    output.add(viewer);
    output.add(stays);
    feed(output, 0, 5);
    output.feedback(viewer, encodePli(1, output.videoSsrc));
    output.remove(viewer);
    output.feedback(stays, encodePli(1, output.videoSsrc));
    assert.equal(output.totalLossRecovery().pli, 2);
  });

  it('with B-frames, leaves out the frames nothing refers to; without, sends every frame', () => {
    const slice = (header: number): Buffer => {
      const nal = Buffer.alloc(40, 0x11);
      nal[0] = header;
      return Buffer.concat([Buffer.from([0, 0, 0, nal.length]), nal]);
    };
    const [videoTrack] = testTracks('video');
    const frame = (dts: number, pts: number, header: number): Frame => ({
      kind: 'video',
      track: videoTrack,
      timescale: 1000,
      dts,
      pts,
      keyframe: false,
      sequenceHeader: false,
      payload: slice(header),
    });
    const run = (withBFrames: boolean): number => {
      const output = new RtpStreamOutput(() => undefined);
      output.onTracks(testTracks('video'));
      const viewer = recorder(102);
      output.add(viewer);
      output.onFrame(videoFrame(0, true));
      const b = withBFrames ? 80 : 0;
      output.onFrame(frame(40, 40 + b, 0x41)); // P (nal_ref_idc 2)
      output.onFrame(frame(80, 80 - (withBFrames ? 40 : 0), 0x01)); // b (nal_ref_idc 0)
      output.onFrame(frame(120, 120 + b, 0x41));
      assert.ok(gapless(seqs(viewer.video)));
      return output.droppedNonReferenceFrames;
    };
    assert.equal(run(true), 1);
    assert.equal(run(false), 0, 'disposable frames of a stream in order are sent');
    assert.equal(isNonReference([Buffer.from([0x06, 0]), Buffer.from([0x01, 0])]), true);
    assert.equal(isNonReference([Buffer.from([0x01, 0]), Buffer.from([0x21, 0])]), false);
    assert.equal(isNonReference([Buffer.from([0x06, 0])]), false, 'no slice: not a frame to drop');
  });
});

void describe('rtpTracksOf()', () => {
  it('names AV1 video (a WHIP or enhanced-RTMP AV1 publish) as what WebRTC cannot send', () => {
    const av1C = Buffer.from('812400000a0e20000024cfa70dbfff3404340080', 'hex');
    const tracks = rtpTracksOf([
      { kind: 'video', codec: 'av1', config: av1C, width: 640, height: 360 },
      { kind: 'audio', codec: 'opus', config: Buffer.alloc(19) },
    ]);
    assert.equal(tracks.h264, null);
    assert.equal(tracks.otherVideo, 'av1');
    assert.equal(tracks.opus, true);
  });
});

void describe('RtpStreamOutput with VP8', () => {
  it('sends VP8 frames as RFC 7741 payloads (one PictureID per frame), starting on a keyframe', () => {
    const output = new RtpStreamOutput(() => undefined);
    const config = buildVp8CodecConfig(640, 360);
    const tracks = rtpTracksOf([{ kind: 'video', codec: 'vp8', config, width: 640, height: 360 }]);
    assert.equal(tracks.vp8, true);
    assert.equal(tracks.otherVideo, null, 'WebRTC sends VP8');
    output.onTracks([{ kind: 'video', codec: 'vp8', config, width: 640, height: 360 }]);
    const viewer = recorder(96);
    output.add(viewer);
    const key = Buffer.concat([
      Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]),
      Buffer.alloc(3000, 7),
    ]);
    const inter = Buffer.from([0x31, 0, 0, 1, 2, 3]);
    const frame = (ms: number, keyframe: boolean, payload: Buffer): Frame => ({
      ...videoFrame(ms, keyframe),
      payload,
    });
    output.onFrame(frame(0, false, inter)); // before a keyframe: not sent
    assert.equal(viewer.video.length, 0);
    output.onFrame(frame(40, true, key));
    output.onFrame(frame(80, false, inter));
    const packets = viewer.video.map((p) => parseRtp(p));
    assert.ok(gapless(seqs(viewer.video)));
    const d = new Vp8Depacketizer({ maxFrameBytes: 1 << 20, maxPackets: 64 });
    const out = packets.flatMap((p) => (p ? d.push(p.payload, p.timestamp, p.marker) : []));
    assert.deepEqual(
      out.map((f) => [f.keyframe, f.data.length]),
      [
        [true, key.length],
        [false, inter.length],
      ],
    );
    assert.deepEqual(out[0]?.size, { width: 640, height: 360 });
    const pictureIds = new Set(packets.map((p) => p?.payload.readUInt16BE(2)));
    assert.equal(pictureIds.size, 2, 'one PictureID per frame');
    assert.ok(packets.every((p) => p !== null && p.payload.length <= 1160));
  });
});
