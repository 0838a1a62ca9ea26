import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toAdts } from '../codecs/aac.ts';
import { buildAvcDecoderConfig } from '../codecs/h264.ts';
import {
  TIMESTAMP_MODULUS,
  TS_PACKET_SIZE,
  crc32Mpeg2,
  decodeTsPacket,
  encodePat,
  encodePes,
  encodePmt,
} from '../codecs/mpegts.ts';
import type { Frame, FrameInput } from './frame.ts';
import {
  DISCONTINUITY_THRESHOLD_90K,
  MAX_AUDIO_PES_BYTES,
  MAX_VIDEO_PES_BYTES,
  TsDemuxer,
} from './ts-demuxer.ts';
import { forEachNal } from '../codecs/annex-b.ts';
import { AUDIO_PID, TIMESTAMP_OFFSET_90K, TsMuxer, VIDEO_PID } from './ts-muxer.ts';
import type { AudioTrack, Track, VideoTrack } from './track.ts';

const FIXTURES = new URL('../../test/fixtures/mpegts/', import.meta.url);
const H264_AAC_TS = new URL('h264-aac.mpegts', FIXTURES);
const H264_BFRAMES_TS = new URL('h264-bframes-aac.mpegts', FIXTURES);
const HEVC_OPUS_TS = new URL('hevc-opus.mpegts', FIXTURES);

/** A libx264 SPS (High, level 1.3, 320x240) and its PPS. */
const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const H264: VideoTrack = {
  kind: 'video',
  codec: 'h264',
  config: buildAvcDecoderConfig(SPS, [PPS]),
};
/** AAC LC, 44.1 kHz, stereo. */
const AAC: AudioTrack = { kind: 'audio', codec: 'aac', config: Buffer.from([0x12, 0x10]) };
const ADTS_FIXED = Buffer.from([0xff, 0xf1, 0x50, 0x80]);
const START = Buffer.from([0, 0, 0, 1]);

/** Length-prefixed (4-byte) NAL units. */
function avcc(nals: readonly Buffer[]): Buffer {
  return Buffer.concat(
    nals.flatMap((nal) => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(nal.length);
      return [prefix, nal];
    }),
  );
}

function annexB(nals: readonly Buffer[]): Buffer {
  return Buffer.concat(nals.flatMap((nal) => [START, nal]));
}

/** A Frame at 90 kHz. */
function frame(
  kind: 'video' | 'audio',
  payload: Buffer,
  dts: number,
  pts = dts,
  keyframe = false,
): Frame {
  return { kind, timescale: 90_000, dts, pts, keyframe, sequenceHeader: false, payload };
}

/** The frames as one TS (PAT + PMT first). */
function mux(tracks: readonly Track[], frames: readonly Frame[]): Buffer {
  const muxer = new TsMuxer(tracks);
  return Buffer.concat([muxer.segmentHeader(), ...frames.map((f) => muxer.encodeFrame(f))]);
}

/** Pushes `ts` cut at `cuts` (sorted offsets), then flushes. */
function demuxSplit(
  ts: Buffer,
  cuts: readonly number[] = [],
  demuxer = new TsDemuxer(),
): FrameInput[] {
  const out: FrameInput[] = [];
  let from = 0;
  for (const cut of [...cuts, ts.length]) {
    out.push(...demuxer.push(ts.subarray(from, cut)));
    from = cut;
  }
  out.push(...demuxer.flush());
  return out;
}

const media = (frames: readonly FrameInput[], kind: 'video' | 'audio'): FrameInput[] =>
  frames.filter((f) => f.kind === kind && f.track === undefined);
const headers = (frames: readonly FrameInput[]): FrameInput[] =>
  frames.filter((f) => f.track !== undefined);

/** A NAL unit of `type` (H.264 header byte) with a body free of zero bytes. */
const nalArb = (header: number[]): fc.Arbitrary<Buffer> =>
  fc
    .uint8Array({ minLength: 1, maxLength: 3000 })
    .map((bytes) => Buffer.from([...header, ...bytes.map((b) => b | 1)]));

/** H.264 + AAC frames: a keyframe first, video every 40 ms, audio every 1024 samples. */
const streamArb = fc
  .record({
    video: fc.array(
      fc.record({
        key: fc.boolean(),
        cts: fc.integer({ min: 0, max: 3 }),
        slices: fc.integer({ min: 1, max: 3 }),
        body: nalArb([]),
      }),
      { minLength: 1, maxLength: 12 },
    ),
    audio: fc.array(fc.uint8Array({ minLength: 1, maxLength: 400 }), { maxLength: 20 }),
  })
  .map(({ video, audio }) => {
    const frames: Frame[] = video.map((v, i) => {
      const key = i === 0 || v.key;
      const nals = Array.from({ length: v.slices }, () =>
        Buffer.concat([Buffer.from([key ? 0x65 : 0x41]), v.body]),
      );
      return frame('video', avcc(nals), i * 3600, i * 3600 + v.cts * 3600, key);
    });
    audio.forEach((bytes, i) => {
      frames.push(frame('audio', Buffer.from(bytes), Math.round((i * 1024 * 90_000) / 44_100)));
    });
    return frames.sort((a, b) => a.dts - b.dts);
  });

/** Sorted cut points in 0..length. */
const cutsOf = (length: number, seeds: readonly number[]): number[] =>
  [...new Set(seeds.map((s) => s % (length + 1)))].sort((a, b) => a - b);

test('TsDemuxer gives back what TsMuxer wrote (H.264 + AAC), split anywhere', () => {
  fc.assert(
    fc.property(streamArb, fc.array(fc.nat(), { maxLength: 40 }), (frames, seeds) => {
      const ts = mux([H264, AAC], frames);
      const demuxer = new TsDemuxer();
      const out = demuxSplit(ts, cutsOf(ts.length, seeds), demuxer);
      const videoHeader = headers(out).find((f) => f.kind === 'video');
      const audioHeader = headers(out).find((f) => f.kind === 'audio');
      assert.deepEqual(videoHeader?.track?.config, H264.config);
      const videoTrack = videoHeader.track;
      assert.equal(videoTrack.kind === 'video' && videoTrack.width, 320);
      const wantVideo = frames.filter((f) => f.kind === 'video');
      const gotVideo = media(out, 'video');
      assert.equal(gotVideo.length, wantVideo.length);
      gotVideo.forEach((got, i) => {
        const want = wantVideo[i]!;
        assert.deepEqual(got.payload, want.payload);
        assert.equal(got.keyframe, want.keyframe);
        assert.equal(got.timescale, 90_000);
        assert.equal(got.dts, want.dts + TIMESTAMP_OFFSET_90K);
        assert.equal(got.pts, want.pts + TIMESTAMP_OFFSET_90K);
      });
      const wantAudio = frames.filter((f) => f.kind === 'audio');
      const gotAudio = media(out, 'audio');
      if (wantAudio.length > 0) assert.deepEqual(audioHeader?.track?.config, AAC.config);
      assert.deepEqual(
        gotAudio.map((f) => [f.dts, f.payload.toString('hex')]),
        wantAudio.map((f) => [f.dts + TIMESTAMP_OFFSET_90K, f.payload.toString('hex')]),
      );
      assert.ok(Object.values(demuxer.stats.drops).every((n) => n === 0));
      assert.equal(demuxer.stats.resyncs, 0);
    }),
    { numRuns: 150 },
  );
});

test('TsDemuxer gives back HEVC that TsMuxer wrote, with the same hvcC', () => {
  const fixture = demuxSplit(readFileSync(HEVC_OPUS_TS));
  const track = headers(fixture).find((f) => f.kind === 'video')?.track;
  assert.ok(track?.kind === 'video' && track.codec === 'hevc');
  const idr = Buffer.from([0x26, 0x01, 0xaf, 0x11, 0x22]); // IDR_W_RADL
  const trail = Buffer.from([0x02, 0x01, 0xd0, 0x33]); // TRAIL_R
  const frames = [
    frame('video', avcc([idr]), 0, 0, true),
    frame('video', avcc([trail, trail]), 3600),
    frame('video', avcc([idr]), 7200, 7200, true),
  ];
  const out = demuxSplit(mux([track], frames), [100, 200, 377]);
  const header = headers(out).find((f) => f.kind === 'video')?.track;
  assert.deepEqual(header?.config, track.config);
  assert.ok(header.kind === 'video');
  assert.equal(`${header.width}x${header.height}`, '320x240');
  assert.deepEqual(
    media(out, 'video').map((f) => [f.payload.toString('hex'), f.keyframe, f.dts]),
    frames.map((f) => [f.payload.toString('hex'), f.keyframe, f.dts + TIMESTAMP_OFFSET_90K]),
  );
});

/** Summary of a real ffmpeg TS. */
function summary(url: URL, chunk = 1316) {
  const ts = readFileSync(url);
  const demuxer = new TsDemuxer();
  const cuts: number[] = [];
  for (let at = chunk; at < ts.length; at += chunk) cuts.push(at);
  const out = demuxSplit(ts, cuts, demuxer);
  const video = media(out, 'video');
  return {
    demuxer,
    tracks: headers(out).map((f) => f.track),
    video,
    audio: media(out, 'audio'),
    keyframes: video.flatMap((f, i) => (f.keyframe ? [i] : [])),
  };
}

test('ffmpeg libx264 + aac TS: 320x240 High, 50 frames, a keyframe every 25, AAC 48 kHz', () => {
  const s = summary(H264_AAC_TS);
  const [video, audio] = s.tracks;
  assert.equal(video?.kind === 'video' && video.codec, 'h264');
  assert.equal(video?.kind === 'video' && `${video.width}x${video.height}`, '320x240');
  assert.equal(video?.kind === 'video' && video.profile, 'High');
  assert.deepEqual(
    audio?.kind === 'audio' && [audio.codec, audio.sampleRate, audio.channels, audio.profile],
    ['aac', 48_000, 1, 'LC'],
  );
  assert.equal(s.video.length, 50);
  assert.deepEqual(s.keyframes, [0, 25]);
  assert.equal(s.audio.length, 95); // what ffprobe counts
  assert.equal(s.audio[0]?.dts, 126_000); // ffprobe's first audio pts
  assert.ok(s.video.every((f) => f.pts === f.dts));
  // Frames are AVCC: 4-byte lengths that add up, no AUD/SPS/PPS left in them.
  for (const f of s.video) {
    let at = 0;
    while (at < f.payload.length) {
      const type = f.payload[at + 4]! & 0x1f;
      assert.ok(![7, 8, 9].includes(type));
      at += 4 + f.payload.readUInt32BE(at);
    }
    assert.equal(at, f.payload.length);
  }
  for (let i = 1; i < s.video.length; i++)
    assert.equal(s.video[i]!.dts - s.video[i - 1]!.dts, 3600);
  assert.ok(Object.values(s.demuxer.stats.drops).every((n) => n === 0));
});

test('ffmpeg TS pushed a packet at a time: a video frame comes out with its own stuffed last packet', () => {
  const ts = readFileSync(H264_AAC_TS);
  const demuxer = new TsDemuxer();
  const videoPid = 0x100; // ffmpeg's first PID, its video stream here
  let atOwnEnd = 0;
  let atNextStart = 0;
  let lastVideoStuffed = false;
  for (let at = 0; at + TS_PACKET_SIZE <= ts.length; at += TS_PACKET_SIZE) {
    const bytes = ts.subarray(at, at + TS_PACKET_SIZE);
    const packet = decodeTsPacket(bytes);
    const video = media(demuxer.push(bytes), 'video');
    if (packet?.pid !== videoPid) {
      assert.equal(video.length, 0, 'video comes out only with video packets');
      continue;
    }
    if (packet.payloadUnitStart && video.length > 0) {
      // Finished by the next start only when its last packet carried no stuffing.
      assert.equal(lastVideoStuffed, false, 'a stuffed last packet already ended that frame');
      atNextStart += video.length;
    } else atOwnEnd += video.length;
    lastVideoStuffed = packet.stuffed;
  }
  atNextStart += media(demuxer.flush(), 'video').length;
  assert.equal(atOwnEnd + atNextStart, 50);
  assert.ok(atOwnEnd >= 45, `${atOwnEnd} of 50 frames out with their own last packet`);
});

test('ffmpeg libx264 -bf 2 TS: pts != dts, dts increasing, AAC 44.1 kHz', () => {
  const s = summary(H264_BFRAMES_TS, 1000);
  assert.equal(s.video.length, 50);
  assert.deepEqual(s.keyframes, [0, 25]);
  assert.ok(s.video.some((f) => f.pts !== f.dts));
  assert.ok(s.video.every((f) => f.pts >= f.dts));
  for (let i = 1; i < s.video.length; i++) assert.ok(s.video[i]!.dts > s.video[i - 1]!.dts);
  assert.equal(s.tracks[1]?.kind === 'audio' && s.tracks[1].sampleRate, 44_100);
  assert.equal(s.audio.length, 88);
  // 1024 samples at 44.1 kHz in 90 kHz ticks between frames of one PES and across PES.
  for (let i = 1; i < s.audio.length; i++) {
    assert.ok(Math.abs(s.audio[i]!.dts - s.audio[i - 1]!.dts - 2089.8) <= 1);
  }
});

test('ffmpeg libx265 + libopus TS: HEVC 320x240, keyframes every 25, Opus 48 kHz mono', () => {
  const s = summary(HEVC_OPUS_TS, 777);
  const [video, audio] = s.tracks;
  assert.deepEqual(
    video?.kind === 'video' && [video.codec, video.width, video.height, video.profile],
    ['hevc', 320, 240, 'Main'],
  );
  assert.deepEqual(audio?.kind === 'audio' && [audio.codec, audio.sampleRate, audio.channels], [
    'opus',
    48_000,
    1,
  ]);
  assert.equal(audio?.config.toString('latin1', 0, 8), 'OpusHead');
  assert.equal(s.video.length, 50);
  assert.deepEqual(s.keyframes, [0, 25]);
  assert.equal(s.audio.length, 101);
  // 20 ms packets: 1800 ticks apart, TOC of a CELT 20 ms frame.
  for (let i = 1; i < s.audio.length; i++)
    assert.equal(s.audio[i]!.dts - s.audio[i - 1]!.dts, 1800);
  assert.ok(Object.values(s.demuxer.stats.drops).every((n) => n === 0));
});

// ---- Hostile inputs (HOSTILE-INPUTS section 10) ----------------------------------------------

/** A simple H.264 + AAC stream from the muxer: 30 frames, keyframes at 0 and 15. */
function sampleStream(): { ts: Buffer; frames: Frame[] } {
  const frames: Frame[] = [];
  for (let i = 0; i < 30; i++) {
    const key = i % 15 === 0;
    const body = Buffer.alloc(key ? 1500 : 400, 0x11 + i);
    frames.push(
      frame(
        'video',
        avcc([Buffer.concat([Buffer.from([key ? 0x65 : 0x41]), body])]),
        i * 3600,
        i * 3600,
        key,
      ),
    );
    frames.push(frame('audio', Buffer.alloc(100, i + 1), i * 3600 + 10));
  }
  return { ts: mux([H264, AAC], frames), frames };
}

function packetsOf(ts: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < ts.length; at += TS_PACKET_SIZE)
    out.push(ts.subarray(at, at + TS_PACKET_SIZE));
  return out;
}
const pidOf = (packet: Buffer): number => ((packet[1]! & 0x1f) << 8) | packet[2]!;

test('a wrong sync byte: the demuxer resyncs and counts it', () => {
  const { ts, frames } = sampleStream();
  const packets = packetsOf(ts);
  const garbage = Buffer.alloc(100, 0x00);
  const broken = Buffer.concat([...packets.slice(0, 7), garbage, ...packets.slice(7)]);
  const demuxer = new TsDemuxer();
  const out = demuxSplit(broken, [150, 1316, 1400], demuxer);
  assert.equal(demuxer.stats.resyncs, 1);
  assert.equal(demuxer.stats.bytesSkipped, 100);
  assert.equal(media(out, 'video').length + media(out, 'audio').length, frames.length);
  // A packet whose own sync byte is wrong is lost: a continuity gap, frames until a keyframe.
  const corrupted = Buffer.from(ts);
  corrupted[10 * TS_PACKET_SIZE] = 0x48;
  const d2 = new TsDemuxer();
  const out2 = demuxSplit(corrupted, [], d2);
  assert.equal(d2.stats.resyncs, 1);
  assert.equal(d2.stats.bytesSkipped, TS_PACKET_SIZE);
  assert.ok(media(out2, 'video').length > 0);
});

test('a continuity-counter gap drops that PID’s PES, video waits for a keyframe, audio goes on', () => {
  const { ts, frames } = sampleStream();
  const packets = packetsOf(ts);
  // The 2nd video PES (frame 1, 400 bytes: 3 packets); drop its middle packet.
  const videoStarts = packets.flatMap((p, i) =>
    pidOf(p) === VIDEO_PID && p[1]! & 0x40 ? [i] : [],
  );
  const victim = videoStarts[1]! + 1;
  assert.equal(pidOf(packets[victim]!), VIDEO_PID);
  const demuxer = new TsDemuxer();
  const out = demuxSplit(Buffer.concat(packets.filter((_, i) => i !== victim)), [], demuxer);
  assert.equal(demuxer.stats.drops['continuity-gap'], 1);
  assert.equal(demuxer.stats.drops['awaiting-keyframe'], 13); // frames 2..14
  const video = media(out, 'video');
  assert.equal(video.length, 30 - 14);
  assert.equal(video[1]?.keyframe, true);
  assert.equal(media(out, 'audio').length, frames.filter((f) => f.kind === 'audio').length);
});

/** One TS packet: header, optional adaptation field bytes, payload, 0xff stuffing to 188. */
function rawPacket(pid: number, cc: number, payload: Buffer, start = true): Buffer {
  const out = Buffer.alloc(TS_PACKET_SIZE, 0xff);
  out[0] = 0x47;
  out[1] = (start ? 0x40 : 0) | (pid >>> 8);
  out[2] = pid & 0xff;
  const room = TS_PACKET_SIZE - 4;
  if (payload.length >= room) {
    out[3] = 0x10 | cc;
    payload.copy(out, 4, 0, room);
  } else {
    out[3] = 0x30 | cc; // stuffing in the adaptation field
    const af = room - payload.length;
    out[4] = af - 1;
    if (af > 1) out[5] = 0;
    payload.copy(out, 4 + af);
  }
  return out;
}

/** A PES header with a PTS and the given PES_packet_length. */
function pesHeader(streamId: number, pts: number, pesPacketLength: number): Buffer {
  const h = Buffer.alloc(14);
  h.writeUIntBE(1, 0, 3);
  h[3] = streamId;
  h.writeUInt16BE(pesPacketLength, 4);
  h[6] = 0x80;
  h[7] = 0x80;
  h[8] = 5;
  h[9] = 0x21 | (Math.floor(pts / 2 ** 30) << 1);
  h.writeUInt16BE(((Math.floor(pts / 2 ** 15) & 0x7fff) << 1) | 1, 10);
  h.writeUInt16BE(((pts & 0x7fff) << 1) | 1, 12);
  return h;
}

function psi(): Buffer {
  return Buffer.concat([
    encodePat(0x1000, 0),
    encodePmt(
      {
        pcrPid: VIDEO_PID,
        streams: [
          { streamType: 0x1b, pid: VIDEO_PID },
          { streamType: 0x0f, pid: AUDIO_PID },
        ],
      },
      0,
    ),
  ]);
}

test('a PES length larger than the data: nothing allocated from it, the PES dropped at the next start', () => {
  const demuxer = new TsDemuxer();
  const es = Buffer.concat([
    pesHeader(0xc0, 1000, 0xffff),
    toAdts(Buffer.alloc(50, 1), ADTS_FIXED),
  ]);
  demuxer.push(psi());
  assert.deepEqual(demuxer.push(rawPacket(AUDIO_PID, 0, es)), []);
  assert.ok(demuxer.bufferedBytes < 2 * TS_PACKET_SIZE, `buffered ${demuxer.bufferedBytes}`);
  const next = Buffer.concat([
    pesHeader(0xc0, 3000, 8 + 57),
    toAdts(Buffer.alloc(50, 2), ADTS_FIXED),
  ]);
  const out = demuxer.push(rawPacket(AUDIO_PID, 1, next));
  assert.equal(demuxer.stats.drops['pes-length-mismatch'], 1);
  assert.deepEqual(
    media(out, 'audio').map((f) => [f.dts, f.payload[0]]),
    [[3000, 2]],
  );
});

test('an adaptation-field length past the packet: that packet dropped and counted', () => {
  const demuxer = new TsDemuxer();
  demuxer.push(psi());
  const bad = rawPacket(VIDEO_PID, 0, Buffer.alloc(10));
  bad[4] = 200; // adaptation_field_length past the end
  assert.deepEqual(demuxer.push(bad), []);
  assert.equal(demuxer.stats.drops['adaptation-field-past-packet'], 1);
  const pcrTooShort = rawPacket(VIDEO_PID, 0, Buffer.alloc(180));
  pcrTooShort[5] = 0x10; // PCR flag in a 4-byte adaptation field
  demuxer.push(pcrTooShort);
  assert.equal(demuxer.stats.drops['adaptation-field-past-packet'], 2);
});

/** A PMT section (program 1) with descriptors per stream, over as many packets as it needs. */
function pmtPackets(
  pid: number,
  streams: readonly { type: number; pid: number; descriptors?: Buffer }[],
  version = 0,
): Buffer {
  const loop = Buffer.concat(
    streams.map((s) => {
      const d = s.descriptors ?? Buffer.alloc(0);
      const e = Buffer.alloc(5);
      e[0] = s.type;
      e.writeUInt16BE(0xe000 | s.pid, 1);
      e.writeUInt16BE(0xf000 | d.length, 3);
      return Buffer.concat([e, d]);
    }),
  );
  const section = Buffer.alloc(12 + loop.length);
  section[0] = 2;
  section.writeUInt16BE(0xb000 | (section.length + 4 - 3), 1);
  section.writeUInt16BE(1, 3);
  section[5] = 0xc1 | ((version & 0x1f) << 1);
  section.writeUInt16BE(0xe000 | VIDEO_PID, 8);
  section.writeUInt16BE(0xf000, 10);
  loop.copy(section, 12);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32Mpeg2(section));
  const data = Buffer.concat([Buffer.from([0]), section, crc]);
  const out: Buffer[] = [];
  for (let at = 0, cc = 0; at < data.length; at += 184, cc++) {
    const part = data.subarray(at, at + 184);
    const packet = Buffer.alloc(TS_PACKET_SIZE, 0xff);
    packet[0] = 0x47;
    packet[1] = (at === 0 ? 0x40 : 0) | (pid >>> 8);
    packet[2] = pid & 0xff;
    packet[3] = 0x10 | (cc & 0x0f);
    part.copy(packet, 4);
    out.push(packet);
  }
  return Buffer.concat(out);
}

test('a PAT and PMT changing every packet cost a re-parse each, nothing grows', () => {
  const demuxer = new TsDemuxer();
  for (let i = 0; i < 2000; i++) {
    demuxer.push(encodePat(0x1000 + (i % 7), i));
    demuxer.push(
      pmtPackets(
        0x1000 + (i % 7),
        [
          { type: 0x1b, pid: 0x100 + (i % 50) },
          { type: 0x0f, pid: 0x200 + (i % 3) },
        ],
        i,
      ),
    );
    assert.ok(demuxer.bufferedBytes <= TS_PACKET_SIZE);
  }
  assert.equal(demuxer.stats.drops['bad-psi'], 0);
  // The last PMT holds: its streams decode.
  const { ts, frames } = sampleStream();
  const out = demuxSplit(ts, [], demuxer);
  assert.equal(media(out, 'video').length, frames.filter((f) => f.kind === 'video').length);
});

test('hundreds of PIDs: streams past the cap are not read, other PIDs cost nothing', () => {
  const demuxer = new TsDemuxer();
  demuxer.push(encodePat(0x1000, 0));
  // 200 streams in a 4-packet PMT section: the first 16 are looked at.
  const streams = Array.from({ length: 200 }, (_, i) => ({
    type: i === 20 ? 0x1b : 0x06,
    pid: 0x300 + i,
  }));
  demuxer.push(pmtPackets(0x1000, streams));
  assert.equal(demuxer.stats.drops['pid-cap'], 1);
  assert.equal(demuxer.stats.drops['bad-psi'], 0);
  // Data on 500 PIDs (the video one beyond the cap among them): nothing kept.
  for (let pid = 0x20; pid < 0x20 + 500; pid++) {
    demuxer.push(rawPacket(pid, 0, Buffer.concat([pesHeader(0xe0, 0, 0), Buffer.alloc(200, 1)])));
  }
  assert.equal(demuxer.bufferedBytes, 0);
  // A 2nd video stream within the cap is ignored (one video, one audio).
  const d2 = new TsDemuxer();
  d2.push(encodePat(0x1000, 0));
  d2.push(
    pmtPackets(0x1000, [
      { type: 0x1b, pid: 0x100 },
      { type: 0x24, pid: 0x102 },
      { type: 0x0f, pid: 0x101 },
      { type: 0x0f, pid: 0x103 },
    ]),
  );
  assert.equal(d2.stats.drops['stream-ignored'], 2);
});

/** One video PES (PES_packet_length 0) carrying `es` on VIDEO_PID, from continuity counter `cc`. */
function videoPes(es: Buffer, pts: number, cc: number): { packets: Buffer; cc: number } {
  return encodePes({
    pid: VIDEO_PID,
    streamId: 0xe0,
    ptsTicks: pts,
    payload: es,
    randomAccess: false,
    cc,
  });
}

test('H.264 without SPS/PPS: frames dropped with a reason until a usable sequence header', () => {
  const demuxer = new TsDemuxer();
  demuxer.push(psi());
  const idr = Buffer.from([0x65, 0x88, 0x84, 0x21]);
  const p = Buffer.from([0x41, 0x9a, 0x02]);
  let cc = 0;
  const send = (es: Buffer, pts: number): FrameInput[] => {
    const pes = videoPes(es, pts, cc);
    cc = pes.cc;
    return demuxer.push(pes.packets);
  };
  assert.deepEqual(send(annexB([idr]), 0), []);
  assert.deepEqual(send(annexB([p]), 3600), []);
  assert.equal(demuxer.stats.drops['no-sequence-header'], 2);
  // A broken SPS is no better.
  assert.deepEqual(send(annexB([Buffer.from([0x67, 0x64]), PPS, idr]), 7200), []);
  assert.equal(demuxer.stats.drops['bad-parameter-set'], 1);
  // A P-frame after SPS/PPS waits for the keyframe.
  const out = [
    ...send(annexB([SPS, PPS, p]), 10800),
    ...send(annexB([Buffer.from([0x09, 0xf0]), SPS, PPS, idr]), 14400),
    ...send(annexB([p]), 18000),
  ];
  assert.equal(demuxer.stats.drops['awaiting-keyframe'], 1);
  assert.deepEqual(
    headers(out).map((f) => f.track?.config),
    [H264.config],
  );
  assert.deepEqual(
    media(out, 'video').map((f) => [f.payload.toString('hex'), f.keyframe, f.dts]),
    [
      [avcc([idr]).toString('hex'), true, 14400],
      [avcc([p]).toString('hex'), false, 18000],
    ],
  );
  // The same SPS/PPS again: no new sequence header.
  assert.deepEqual(headers(send(annexB([SPS, PPS, idr]), 21600)), []);
});

test('Annex-B start codes in odd places: leading bytes, 3/4-byte codes, empty units, trailing zeros', () => {
  const nals = (data: Buffer): string[] => {
    const out: string[] = [];
    forEachNal(data, (nal) => out.push(nal.toString('hex')) > 0);
    return out;
  };
  const stream = Buffer.from(
    'aabb' +
      '000001' +
      '0901' +
      '00000001' +
      '000001' +
      '65aa' +
      '0000' +
      '0000000001' +
      '41bb' +
      '000001',
    'hex',
  );
  assert.deepEqual(nals(stream), ['0901', '65aa', '41bb']);
  assert.deepEqual(nals(Buffer.from('0000010000', 'hex')), []);
  assert.deepEqual(nals(Buffer.from('65aa', 'hex')), []);
  // Through the demuxer: an access unit of only start codes and an AUD is dropped, not emitted.
  const demuxer = new TsDemuxer();
  demuxer.push(psi());
  let cc = 0;
  for (const es of [
    annexB([SPS, PPS, Buffer.from([0x65, 1])]),
    Buffer.from('000001000001000000010910', 'hex'),
    Buffer.from('0000000000000141aa0000000000', 'hex'),
  ]) {
    const pes = videoPes(es, 0, cc);
    cc = pes.cc;
    demuxer.push(pes.packets);
  }
  assert.equal(demuxer.stats.drops['bad-access-unit'], 1);
  assert.equal(demuxer.stats.frames, 2);
});

test('AAC ADTS with a bad length: the rest of that PES dropped, the next PES fine', () => {
  const demuxer = new TsDemuxer();
  demuxer.push(psi());
  const good = toAdts(Buffer.alloc(30, 7), ADTS_FIXED);
  const bad = Buffer.from(toAdts(Buffer.alloc(30, 8), ADTS_FIXED));
  bad[4] = 0xff; // aac_frame_length far past the PES
  const short = Buffer.from(good);
  short[3] = short[3]! & 0xfc;
  short[4] = 0;
  short[5] = (3 << 5) | 0x1f; // aac_frame_length 3 < header
  const send = (es: Buffer, pts: number, cc: number): FrameInput[] =>
    demuxer.push(
      encodePes({
        pid: AUDIO_PID,
        streamId: 0xc0,
        ptsTicks: pts,
        payload: es,
        randomAccess: false,
        cc,
      }).packets,
    );
  const out = [
    ...send(Buffer.concat([good, bad, good]), 0, 0),
    ...send(Buffer.concat([short, good]), 9000, 1),
    ...send(Buffer.concat([good, good]), 18000, 2),
  ];
  assert.equal(demuxer.stats.drops['bad-adts'], 2);
  assert.deepEqual(
    media(out, 'audio').map((f) => f.dts),
    [0, 18000, 18000 + 2090],
  );
  assert.deepEqual(
    headers(out).map((f) => [
      f.track?.config.toString('hex'),
      f.track?.kind === 'audio' && f.track.sampleRate,
    ]),
    [['1210', 44100]],
  );
});

test('Opus as ffmpeg muxes it: control headers with trims and extensions stripped', () => {
  const demuxer = new TsDemuxer();
  demuxer.push(encodePat(0x1000, 0));
  const opusDescriptors = Buffer.from('05044f7075737f028002', 'hex'); // 'Opus', ext 0x80, 2 ch
  demuxer.push(pmtPackets(0x1000, [{ type: 0x06, pid: 0x101, descriptors: opusDescriptors }]));
  const p1 = Buffer.alloc(300, 0xfc); // TOC 0xfc: CELT FB 20 ms, code 0
  p1[0] = 0xfc;
  const p2 = Buffer.from([0xfc, 1, 2, 3]);
  const es = Buffer.concat([
    Buffer.from([0x7f, 0xe0 | 0x10 | 0x08, 0xff, 300 - 255, 0, 10, 0, 20]),
    p1,
    Buffer.from([0x7f, 0xe0 | 0x04, 4, 2, 0xaa, 0xbb]),
    p2,
  ]);
  const out = demuxer.push(
    encodePes({
      pid: 0x101,
      streamId: 0xbd,
      ptsTicks: 5000,
      payload: es,
      randomAccess: false,
      cc: 0,
    }).packets,
  );
  const track = headers(out)[0]?.track;
  assert.deepEqual(track?.kind === 'audio' && [track.codec, track.channels, track.sampleRate], [
    'opus',
    2,
    48_000,
  ]);
  assert.deepEqual(
    media(out, 'audio').map((f) => [f.dts, f.payload.length]),
    [
      [5000, 300],
      [6800, 4],
    ],
  );
  // A truncated size: the rest is dropped.
  demuxer.push(
    encodePes({
      pid: 0x101,
      streamId: 0xbd,
      ptsTicks: 9000,
      payload: Buffer.from([0x7f, 0xe0, 50, 1]),
      randomAccess: false,
      cc: 2, // the first PES took two packets
    }).packets,
  );
  assert.equal(demuxer.stats.drops['bad-opus'], 1);
});

test('the 33-bit PTS/DTS wrap is unwrapped onto a monotonic timeline', () => {
  const start = TIMESTAMP_MODULUS - TIMESTAMP_OFFSET_90K - 5 * 3600;
  const frames: Frame[] = [];
  for (let i = 0; i < 12; i++) {
    frames.push(
      frame(
        'video',
        avcc([Buffer.from([i === 0 ? 0x65 : 0x41, 1, 2])]),
        start + i * 3600,
        start + i * 3600 + 3600,
        i === 0,
      ),
    );
    frames.push(frame('audio', Buffer.from([i + 1]), start + i * 3600));
  }
  const out = demuxSplit(mux([H264, AAC], frames));
  const video = media(out, 'video');
  const audio = media(out, 'audio');
  assert.equal(video.length, 12);
  assert.deepEqual(
    video.map((f) => f.dts),
    frames.filter((f) => f.kind === 'video').map((f) => f.dts + TIMESTAMP_OFFSET_90K),
  );
  assert.deepEqual(
    video.map((f) => f.pts - f.dts),
    Array(12).fill(3600),
  );
  assert.ok(video.at(-1)!.dts > TIMESTAMP_MODULUS);
  assert.deepEqual(
    audio.map((f) => f.dts),
    frames.filter((f) => f.kind === 'audio').map((f) => f.dts + TIMESTAMP_OFFSET_90K),
  );
});

test('a backwards jump past the threshold is a discontinuity: the timeline goes on', () => {
  const frames = [0, 3600, 7200].map((t, i) =>
    frame('video', avcc([Buffer.from([0x65, i + 1])]), 50 * 90_000 + t, 50 * 90_000 + t, true),
  );
  frames.push(
    ...[0, 3600].map((t, i) => frame('video', avcc([Buffer.from([0x65, i + 9])]), t, t, true)),
  );
  const demuxer = new TsDemuxer();
  const out = media(demuxSplit(mux([H264], frames), [], demuxer), 'video');
  assert.equal(demuxer.stats.discontinuities, 1);
  assert.ok(DISCONTINUITY_THRESHOLD_90K < 50 * 90_000);
  const dts = out.map((f) => f.dts);
  assert.equal(dts.length, 5);
  for (let i = 1; i < dts.length; i++) assert.ok(dts[i]! >= dts[i - 1]!, dts.join());
});

test('random bytes and mutated streams never throw; buffered bytes stay under the caps', () => {
  const { ts } = sampleStream();
  const limit = MAX_VIDEO_PES_BYTES + MAX_AUDIO_PES_BYTES + 2 * 1024 + 2 * TS_PACKET_SIZE;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 4000 }).map((b) => Buffer.from(b)),
        // Sync bytes every 188 so that packets parse and reach the PSI, PES and codec code.
        fc.uint8Array({ maxLength: 4000 }).map((b) => {
          const buf = Buffer.concat([psi(), Buffer.from(b)]);
          for (let at = 0; at < buf.length; at += TS_PACKET_SIZE) buf[at] = 0x47;
          return buf;
        }),
        fc
          .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 30 })
          .map((flips) => {
            const buf = Buffer.from(ts);
            for (const [at, value] of flips) buf[at % buf.length] = value;
            return buf;
          }),
      ),
      fc.array(fc.nat(), { maxLength: 10 }),
      (input, seeds) => {
        const demuxer = new TsDemuxer();
        let from = 0;
        for (const cut of [...cutsOf(input.length, seeds), input.length]) {
          demuxer.push(input.subarray(from, cut));
          assert.ok(demuxer.bufferedBytes <= limit);
          from = cut;
        }
        demuxer.flush();
      },
    ),
    { numRuns: 400 },
  );
});

test('a video PES over the cap is dropped and counted, and memory stays under it', () => {
  const demuxer = new TsDemuxer();
  demuxer.push(psi());
  const packet = rawPacket(
    VIDEO_PID,
    0,
    Buffer.concat([pesHeader(0xe0, 0, 0), Buffer.alloc(170, 1)]),
  );
  demuxer.push(packet);
  const body = Buffer.alloc(TS_PACKET_SIZE, 0x22);
  body.set([0x47, VIDEO_PID >>> 8, VIDEO_PID & 0xff, 0x10]);
  const packets = Math.ceil(MAX_VIDEO_PES_BYTES / 184) + 2;
  const chunk = Buffer.alloc(TS_PACKET_SIZE * 1000);
  for (let sent = 0, cc = 1; sent < packets; sent += 1000) {
    for (let i = 0; i < 1000; i++, cc++) {
      body[3] = 0x10 | (cc & 0x0f);
      body.copy(chunk, i * TS_PACKET_SIZE);
    }
    demuxer.push(chunk);
    assert.ok(demuxer.bufferedBytes <= MAX_VIDEO_PES_BYTES);
  }
  assert.equal(demuxer.stats.drops['pes-too-large'], 1);
  assert.ok(demuxer.stats.drops['pes-without-start'] > 0);
});
