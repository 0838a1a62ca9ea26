import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from '../codecs/codec-error.ts';
import { FlvDecoder, FlvTagType } from '../codecs/flv.ts';
import { TS_PACKET_SIZE, crc32Mpeg2, decodePesHeader, decodeTsPacket } from '../codecs/mpegts.ts';
import type { PesHeader, TsPacket } from '../codecs/mpegts.ts';
import { mp3TrackFromHeader, parseAudioTag, parseVideoTag } from './flv-tag-parser.ts';
import type { Frame, FrameKind } from './frame.ts';
import { AUDIO_PID, TIMESTAMP_OFFSET_90K, TsMuxer, VIDEO_PID } from './ts-muxer.ts';
import type { AudioTrack, Track, VideoTrack } from './track.ts';

const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const AUD = Buffer.from('00000001' + '09f0', 'hex');
const START = Buffer.from('00000001', 'hex');

/** An AVCDecoderConfigurationRecord with one SPS and one PPS. */
function avcC(lengthSize = 4): Buffer {
  return Buffer.concat([
    Buffer.from([1, 0x64, 0x00, 0x0d, 0xfc | (lengthSize - 1), 0xe1, 0, SPS.length]),
    SPS,
    Buffer.from([1, 0, PPS.length]),
    PPS,
  ]);
}

const H264: VideoTrack = { kind: 'video', codec: 'h264', config: avcC() };
/** AAC LC, 44.1 kHz, stereo. */
const AAC: AudioTrack = { kind: 'audio', codec: 'aac', config: Buffer.from([0x12, 0x10]) };

/** NAL units with a `lengthSize`-byte big-endian length prefix each. */
function avcc(nals: readonly Buffer[], lengthSize = 4): Buffer {
  return Buffer.concat(
    nals.flatMap((nal) => {
      const prefix = Buffer.alloc(lengthSize);
      prefix.writeUIntBE(nal.length, 0, lengthSize);
      return [prefix, nal];
    }),
  );
}

/** A Frame (timescale 1000) whose codec payload is `payload`. */
function frame(
  kind: FrameKind,
  payload: Buffer,
  fields: { dtsMs?: number; ctsMs?: number; keyframe?: boolean; sequenceHeader?: boolean } = {},
): Frame {
  const dts = fields.dtsMs ?? 0;
  return {
    kind,
    timescale: 1000,
    dts,
    pts: dts + (fields.ctsMs ?? 0),
    keyframe: fields.keyframe ?? false,
    sequenceHeader: fields.sequenceHeader ?? false,
    payload,
  };
}

/** One PES as carried: its PID, first TS packet, header and elementary stream data. */
interface PesUnit {
  readonly pid: number;
  readonly first: TsPacket;
  readonly header: PesHeader;
  readonly data: Buffer;
}

/** Reads TS bytes back into PSI packets and PES units, checking continuity counters per PID. */
function demux(
  ts: Buffer,
  lastCc = new Map<number, number>(),
): { psi: TsPacket[]; pes: PesUnit[] } {
  assert.equal(ts.length % TS_PACKET_SIZE, 0, 'whole packets');
  const psi: TsPacket[] = [];
  const open = new Map<number, { first: TsPacket; parts: Buffer[] }>();
  const pes: PesUnit[] = [];
  const close = (pid: number): void => {
    const unit = open.get(pid);
    if (!unit) return;
    const bytes = Buffer.concat(unit.parts);
    const header = decodePesHeader(bytes);
    assert.ok(header, 'PES header decodes');
    pes.push({ pid, first: unit.first, header, data: bytes.subarray(header.payloadOffset) });
    open.delete(pid);
  };
  for (let at = 0; at < ts.length; at += TS_PACKET_SIZE) {
    const packet = decodeTsPacket(ts.subarray(at, at + TS_PACKET_SIZE));
    assert.ok(packet, `packet at ${at}`);
    const previous = lastCc.get(packet.pid);
    if (previous !== undefined) {
      assert.equal(packet.cc, (previous + 1) & 0x0f, `cc continuity on PID ${packet.pid} at ${at}`);
    }
    lastCc.set(packet.pid, packet.cc);
    if (packet.pid === 0 || packet.pid === 0x1000) {
      psi.push(packet);
      continue;
    }
    if (packet.payloadUnitStart) {
      close(packet.pid);
      open.set(packet.pid, { first: packet, parts: [packet.payload] });
    } else {
      open.get(packet.pid)?.parts.push(packet.payload);
    }
  }
  for (const pid of [...open.keys()]) close(pid);
  return { psi, pes };
}

/** The PMT section of a segment header: PCR PID and (stream_type, PID) pairs, CRC checked. */
function readPmt(header: Buffer): { pcrPid: number; streams: [number, number][] } {
  const pmt = header.subarray(TS_PACKET_SIZE, 2 * TS_PACKET_SIZE);
  assert.equal(decodeTsPacket(pmt)?.pid, 0x1000);
  const sectionLength = pmt.readUInt16BE(6) & 0x0fff;
  assert.equal(crc32Mpeg2(pmt.subarray(5, 8 + sectionLength)), 0, 'PMT CRC');
  const streams: [number, number][] = [];
  for (let at = 17; at < 8 + sectionLength - 4; at += 5) {
    streams.push([pmt[at]!, pmt.readUInt16BE(at + 1) & 0x1fff]);
  }
  return { pcrPid: pmt.readUInt16BE(13) & 0x1fff, streams };
}

test('TsMuxer.segmentHeader() lists H.264 and AAC with the PCR on video', () => {
  const header = new TsMuxer([H264, AAC]).segmentHeader();
  assert.equal(header.length, 2 * TS_PACKET_SIZE);
  assert.equal(decodeTsPacket(header.subarray(0, TS_PACKET_SIZE))?.pid, 0);
  assert.deepEqual(readPmt(header), {
    pcrPid: VIDEO_PID,
    streams: [
      [0x1b, VIDEO_PID],
      [0x0f, AUDIO_PID],
    ],
  });
});

test('TsMuxer.segmentHeader() picks stream types and the PCR PID from the carried tracks', () => {
  const hevc: VideoTrack = { kind: 'video', codec: 'hevc', config: hvcC([]) };
  const av1: VideoTrack = { kind: 'video', codec: 'av1', config: Buffer.alloc(4) };
  const vp8: VideoTrack = { kind: 'video', codec: 'vp8', config: Buffer.alloc(8) };
  const opus: AudioTrack = { kind: 'audio', codec: 'opus', config: Buffer.alloc(0) };
  const mp3 = (sampleRate: number): AudioTrack => ({
    kind: 'audio',
    codec: 'mp3',
    config: Buffer.alloc(0),
    sampleRate,
  });
  const cases: [string, Track[], { pcrPid: number; streams: [number, number][] }][] = [
    ['AAC only', [AAC], { pcrPid: AUDIO_PID, streams: [[0x0f, AUDIO_PID]] }],
    ['AV1 + AAC', [av1, AAC], { pcrPid: AUDIO_PID, streams: [[0x0f, AUDIO_PID]] }],
    ['AV1 + Opus', [av1, opus], { pcrPid: 0x1fff, streams: [] }],
    ['VP8 + AAC', [vp8, AAC], { pcrPid: AUDIO_PID, streams: [[0x0f, AUDIO_PID]] }],
    ['H.264 + Opus', [H264, opus], { pcrPid: VIDEO_PID, streams: [[0x1b, VIDEO_PID]] }],
    [
      'HEVC + MP3 22.05 kHz',
      [hevc, mp3(22050)],
      {
        pcrPid: VIDEO_PID,
        streams: [
          [0x24, VIDEO_PID],
          [0x04, AUDIO_PID],
        ],
      },
    ],
    ['MP3 44.1 kHz', [mp3(44100)], { pcrPid: AUDIO_PID, streams: [[0x03, AUDIO_PID]] }],
    [
      'AAC with an explicit sample rate',
      [{ ...AAC, config: Buffer.from([0x17, 0x80, 0x03, 0xe8, 0x10]) }],
      { pcrPid: 0x1fff, streams: [] },
    ],
    [
      'AAC ELD',
      [{ ...AAC, config: Buffer.from([0xf8, 0xf0, 0x20]) }],
      { pcrPid: 0x1fff, streams: [] },
    ],
  ];
  for (const [name, tracks, expected] of cases) {
    assert.deepEqual(readPmt(new TsMuxer(tracks).segmentHeader()), expected, name);
  }
});

test('TsMuxer.segmentHeader() advances the PAT and PMT continuity counters modulo 16', () => {
  const muxer = new TsMuxer([H264]);
  const ccs = Array.from({ length: 18 }, () => {
    const header = muxer.segmentHeader();
    return [header[3]! & 0x0f, header[TS_PACKET_SIZE + 3]! & 0x0f];
  });
  assert.deepEqual(
    ccs.map(([pat]) => pat),
    [...Array.from({ length: 16 }, (_, i) => i), 0, 1],
  );
  assert.deepEqual(
    ccs.map(([, pmt]) => pmt),
    ccs.map(([pat]) => pat),
  );
});

test('new TsMuxer() throws CodecError on a carried track with a broken config', () => {
  const broken = (track: Track, code: string): void => {
    assert.throws(
      () => new TsMuxer([track]),
      (e: unknown) => e instanceof CodecError && e.code === code,
    );
  };
  broken({ ...H264, config: Buffer.from([0, 1, 2, 3, 4, 5, 6]) }, 'ERR_H264_CONFIG');
  broken({ ...AAC, config: Buffer.from([0x12]) }, 'ERR_AAC_CONFIG');
  const truncated = hvcC([SPS]).subarray(0, 30);
  broken({ kind: 'video', codec: 'hevc', config: truncated }, 'ERR_HEVC_CONFIG');
});

test('TsMuxer.encodeFrame() turns an H.264 keyframe into AUD + SPS + PPS + Annex B NAL units', () => {
  const idr = Buffer.from([0x65, 0x88, 0x84, 0x00]);
  const sei = Buffer.from([0x06, 0x05, 0x01, 0x80]);
  const out = new TsMuxer([H264]).encodeFrame(frame('video', avcc([sei, idr]), { keyframe: true }));
  const { pes } = demux(out);
  assert.equal(pes.length, 1);
  assert.deepEqual(
    pes[0]!.data,
    Buffer.concat([AUD, START, SPS, START, PPS, START, sei, START, idr]),
  );
  assert.equal(pes[0]!.first.randomAccess, true);
  assert.equal(pes[0]!.header.streamId, 0xe0);
});

test('TsMuxer.encodeFrame() adds no parameter sets to inter frames or to keyframes that carry them', () => {
  const muxer = new TsMuxer([H264]);
  const slice = Buffer.from([0x41, 0x9a, 0x02]);
  const inter = demux(muxer.encodeFrame(frame('video', avcc([slice])))).pes[0]!;
  assert.deepEqual(inter.data, Buffer.concat([AUD, START, slice]));
  assert.equal(inter.first.randomAccess, false);
  const idr = Buffer.from([0x65, 0x88]);
  const own = demux(muxer.encodeFrame(frame('video', avcc([SPS, PPS, idr]), { keyframe: true })));
  assert.deepEqual(own.pes[0]!.data, Buffer.concat([AUD, START, SPS, START, PPS, START, idr]));
});

test('TsMuxer.encodeFrame() inserts SPS/PPS before an IDR NAL unit even without the keyframe flag', () => {
  const idr = Buffer.from([0x65, 0x88]);
  const unit = demux(new TsMuxer([H264]).encodeFrame(frame('video', avcc([idr])))).pes[0]!;
  assert.deepEqual(unit.data, Buffer.concat([AUD, START, SPS, START, PPS, START, idr]));
  assert.equal(unit.first.randomAccess, true);
});

test('TsMuxer.encodeFrame() drops the frame AUD, empty NAL units and a truncated tail', () => {
  const slice = Buffer.from([0x41, 0x9a]);
  const payload = Buffer.concat([
    avcc([Buffer.from([0x09, 0x10]), Buffer.alloc(0), slice]),
    Buffer.from([0, 0, 0, 9, 0x41]), // says 9 bytes, has 1
  ]);
  const unit = demux(new TsMuxer([H264]).encodeFrame(frame('video', payload))).pes[0]!;
  assert.deepEqual(unit.data, Buffer.concat([AUD, START, slice]));
});

test('TsMuxer.encodeFrame() reads the NAL length size from the avcC', () => {
  for (const lengthSize of [1, 2, 3]) {
    const muxer = new TsMuxer([{ ...H264, config: avcC(lengthSize) }]);
    const slices = [Buffer.from([0x41, 1]), Buffer.from([0x01, 2, 3])];
    const unit = demux(muxer.encodeFrame(frame('video', avcc(slices, lengthSize)))).pes[0]!;
    assert.deepEqual(
      unit.data,
      Buffer.concat([AUD, START, slices[0]!, START, slices[1]!]),
      `length size ${lengthSize}`,
    );
  }
});

test('TsMuxer.encodeFrame() writes PTS, DTS and PCR with the 1 s offset', () => {
  const muxer = new TsMuxer([H264, AAC]);
  const slice = Buffer.from([0x41, 0x9a]);
  const video = demux(muxer.encodeFrame(frame('video', avcc([slice]), { dtsMs: 1000, ctsMs: 80 })))
    .pes[0]!;
  assert.equal(video.header.ptsTicks, 1080 * 90 + TIMESTAMP_OFFSET_90K);
  assert.equal(video.header.dtsTicks, 1000 * 90 + TIMESTAMP_OFFSET_90K);
  assert.equal(video.first.pcrBase, 1000 * 90);
  const audio = demux(muxer.encodeFrame(frame('audio', Buffer.alloc(10), { dtsMs: 1020 }))).pes[0]!;
  assert.equal(audio.header.ptsTicks, 1020 * 90 + TIMESTAMP_OFFSET_90K);
  assert.equal(audio.header.dtsTicks, undefined);
  assert.equal(audio.first.pcrBase, undefined, 'no PCR on audio when video carries it');
  assert.equal(audio.first.randomAccess, false);
});

test('TsMuxer.encodeFrame() lowers the DTS to the PTS on a negative composition offset', () => {
  const out = new TsMuxer([H264]).encodeFrame(
    frame('video', avcc([Buffer.from([0x41, 1])]), { dtsMs: 500, ctsMs: -40 }),
  );
  const { header, first } = demux(out).pes[0]!;
  assert.equal(header.ptsTicks, 460 * 90 + TIMESTAMP_OFFSET_90K);
  assert.equal(header.dtsTicks, undefined, 'DTS equal to PTS is omitted');
  assert.equal(first.pcrBase, 460 * 90);
});

test('TsMuxer.encodeFrame() frames AAC in ADTS with the track profile, rate and channels', () => {
  const raw = Buffer.from([0x21, 0x10, 0x05, 0x00]);
  const unit = demux(new TsMuxer([H264, AAC]).encodeFrame(frame('audio', raw))).pes[0]!;
  // LC (profile 1), index 4 (44.1 kHz), 2 channels, frame length 11, fullness 0x7FF.
  assert.deepEqual(unit.data, Buffer.concat([Buffer.from('fff15080017ffc', 'hex'), raw]));
  assert.equal(unit.header.streamId, 0xc0);
  assert.equal(unit.header.pesPacketLength, 3 + 5 + 11);
});

test('TsMuxer.encodeFrame() writes HE-AAC as its LC core and 6-channel AAC as config 6', () => {
  // objectType 5, core index 6 (24 kHz), 2 channels, extension index 3 (48 kHz), LC.
  const heAac: AudioTrack = { ...AAC, config: Buffer.from([0x2b, 0x11, 0x88, 0x00]) };
  const he = demux(new TsMuxer([heAac]).encodeFrame(frame('audio', Buffer.alloc(1)))).pes[0]!;
  assert.deepEqual(he.data.subarray(0, 4), Buffer.from([0xff, 0xf1, 0x58, 0x80]));
  const surround: AudioTrack = { ...AAC, config: Buffer.from([0x11, 0xb0]) }; // 48 kHz, 5.1
  const six = demux(new TsMuxer([surround]).encodeFrame(frame('audio', Buffer.alloc(1)))).pes[0]!;
  assert.deepEqual(six.data.subarray(0, 4), Buffer.from([0xff, 0xf1, 0x4d, 0x80]));
});

test('TsMuxer.encodeFrame() puts PCR and random access on every audio PES when audio-only', () => {
  const muxer = new TsMuxer([AAC]);
  for (const dtsMs of [0, 23, 46]) {
    const unit = demux(muxer.encodeFrame(frame('audio', Buffer.alloc(200), { dtsMs }))).pes[0]!;
    assert.equal(unit.first.pcrBase, dtsMs * 90);
    assert.equal(unit.first.randomAccess, true);
  }
});

test('TsMuxer.encodeFrame() returns an empty Buffer for frames it cannot carry', () => {
  const h264Aac = new TsMuxer([H264, AAC]);
  const slice = avcc([Buffer.from([0x41, 1])]);
  const noPayload: Frame = frame('video', Buffer.alloc(0));
  const cases: [string, TsMuxer, Frame][] = [
    ['script data', h264Aac, frame('data', Buffer.from('onMetaData'))],
    ['a sequence header', h264Aac, frame('video', avcC(), { sequenceHeader: true })],
    ['no payload', h264Aac, noPayload],
    ['only a truncated NAL unit', h264Aac, frame('video', Buffer.from([0, 0, 0, 5, 0x41]))],
    ['only an AUD', h264Aac, frame('video', avcc([Buffer.from([0x09, 0xf0])]))],
    ['AAC too long for ADTS', h264Aac, frame('audio', Buffer.alloc(8192 - 7))],
    ['audio without an audio track', new TsMuxer([H264]), frame('audio', Buffer.alloc(5))],
    ['video without a video track', new TsMuxer([AAC]), frame('video', slice)],
    [
      'AV1',
      new TsMuxer([{ kind: 'video', codec: 'av1', config: Buffer.alloc(4) }]),
      frame('video', slice),
    ],
    [
      'VP8',
      new TsMuxer([{ kind: 'video', codec: 'vp8', config: Buffer.alloc(8) }]),
      frame('video', slice),
    ],
    [
      'Opus',
      new TsMuxer([{ kind: 'audio', codec: 'opus', config: Buffer.alloc(0) }]),
      frame('audio', slice),
    ],
  ];
  for (const [name, muxer, f] of cases) assert.equal(muxer.encodeFrame(f).length, 0, name);
  assert.ok(h264Aac.encodeFrame(frame('audio', Buffer.alloc(8191 - 7))).length > 0, 'largest ADTS');
});

test('TsMuxer.encodeFrame() carries MP3 frames unchanged, up to one bounded PES packet', () => {
  const mp3 = Buffer.from([0xff, 0xfb, 0x90, 0x64, 1, 2, 3]);
  const track: AudioTrack = {
    kind: 'audio',
    codec: 'mp3',
    config: Buffer.alloc(0),
    sampleRate: 44100,
  };
  const out = new TsMuxer([track]).encodeFrame(frame('audio', mp3));
  assert.deepEqual(demux(out).pes[0]!.data, mp3);
  const fits = Buffer.alloc(0xffff - 8);
  const muxer = new TsMuxer([track]);
  assert.ok(muxer.encodeFrame(frame('audio', fits)).length > 0);
  const tooLong = Buffer.alloc(fits.length + 1);
  assert.equal(
    muxer.encodeFrame(frame('audio', tooLong)).length,
    0,
    'longer than PES_packet_length can say',
  );
});

test('TsMuxer continuity counters run on across segment headers and wrap', () => {
  const muxer = new TsMuxer([H264, AAC]);
  const lastCc = new Map<number, number>();
  for (let i = 0; i < 40; i++) {
    if (i % 7 === 0) demux(muxer.segmentHeader(), lastCc);
    const big = Buffer.alloc(i * 50 + 1, 0x11);
    big[0] = 0x41;
    demux(muxer.encodeFrame(frame('video', avcc([big]), { dtsMs: i * 40 })), lastCc);
    demux(muxer.encodeFrame(frame('audio', Buffer.alloc(i * 10 + 1), { dtsMs: i * 40 })), lastCc);
  }
  assert.ok(lastCc.has(VIDEO_PID) && lastCc.has(AUDIO_PID));
});

/** An HEVCDecoderConfigurationRecord: a libx265 fixed part, then one array per parameter set. */
function hvcC(sets: readonly Buffer[]): Buffer {
  const fixed = Buffer.from('0101600000009000000000005df000fcfdf8f800000f00', 'hex');
  fixed[22] = sets.length;
  return Buffer.concat([
    fixed,
    ...sets.map((set) =>
      Buffer.concat([Buffer.from([0x80 | ((set[0]! >>> 1) & 0x3f), 0, 1, 0, set.length]), set]),
    ),
  ]);
}

test('TsMuxer.encodeFrame() writes HEVC with a type-35 AUD and VPS/SPS/PPS before IRAP frames', () => {
  const vps = Buffer.from([0x40, 0x01, 0x0c]);
  const sps = Buffer.from([0x42, 0x01, 0x01]);
  const pps = Buffer.from([0x44, 0x01, 0xc1]);
  const muxer = new TsMuxer([{ kind: 'video', codec: 'hevc', config: hvcC([pps, sps, vps]) }]);
  const aud = Buffer.from('00000001' + '460150', 'hex');
  const idr = Buffer.from([0x26, 0x01, 0xaf]); // IDR_W_RADL (19)
  const key = demux(muxer.encodeFrame(frame('video', avcc([idr])))).pes[0]!;
  assert.deepEqual(key.data, Buffer.concat([aud, START, vps, START, sps, START, pps, START, idr]));
  assert.equal(key.first.randomAccess, true);
  const trail = Buffer.from([0x02, 0x01, 0xd0]); // TRAIL_R (1)
  const inter = demux(muxer.encodeFrame(frame('video', avcc([trail])))).pes[0]!;
  assert.deepEqual(inter.data, Buffer.concat([aud, START, trail]));
});

test('TsMuxer.encodeFrame() never throws on random frames and yields whole 0x47 packets', () => {
  const tracks = [H264, { ...H264, config: avcC(2) }, AAC, hevcTrackForFuzz()];
  fc.assert(
    fc.property(
      fc.constantFrom(...tracks),
      fc.array(
        fc.record({
          kind: fc.constantFrom<FrameKind>('video', 'audio', 'data'),
          timescale: fc.constantFrom(1000, 90_000, 48_000),
          dts: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
          cts: fc.integer({ min: -90_000, max: 90_000 }),
          keyframe: fc.boolean(),
          sequenceHeader: fc.boolean(),
          payload: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
        }),
        { maxLength: 20 },
      ),
      (video, frames) => {
        const muxer = new TsMuxer([video, AAC]);
        for (const { cts, ...f } of frames) {
          const out = Buffer.concat([
            muxer.segmentHeader(),
            muxer.encodeFrame({ ...f, pts: f.dts + cts }),
          ]);
          assert.equal(out.length % TS_PACKET_SIZE, 0);
          for (let at = 0; at < out.length; at += TS_PACKET_SIZE) assert.equal(out[at], 0x47);
        }
      },
    ),
  );
});

/** An HEVC track with all three parameter sets, for the property test. */
function hevcTrackForFuzz(): VideoTrack {
  const sets = [Buffer.from([0x40, 1]), Buffer.from([0x42, 1]), Buffer.from([0x44, 1])];
  return { kind: 'video', codec: 'hevc', config: hvcC(sets) };
}

// End to end: real encoder output through the muxer, read back by ffprobe and ffmpeg.

const hasFfmpeg =
  spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;

/** Frames and tracks of an FLV file, built the way the RTMP ingest builds them. */
function framesFromFlv(flv: Buffer): { tracks: Track[]; frames: Frame[] } {
  const tracks: Track[] = [];
  const frames: Frame[] = [];
  for (const tag of new FlvDecoder().push(flv)) {
    if (tag.type !== FlvTagType.Video && tag.type !== FlvTagType.Audio) continue;
    const kind = tag.type === FlvTagType.Video ? 'video' : 'audio';
    const parsed = kind === 'video' ? parseVideoTag(tag.body) : parseAudioTag(tag.body);
    const base = { kind, timescale: 1000, dts: tag.timestamp, flvBody: tag.body } as const;
    if (parsed.type === 'sequence-header') {
      tracks.push(parsed.track);
      const none = { pts: tag.timestamp, keyframe: false, sequenceHeader: true };
      frames.push({ ...base, ...none, payload: parsed.track.config });
    } else if (parsed.type === 'frame') {
      if (kind === 'audio' && !tracks.some((t) => t.kind === 'audio')) {
        tracks.push(mp3TrackFromHeader(tag.body[0]!)); // MP3 has no sequence header
      }
      const { ctsMs, keyframe, payloadOffset } = parsed;
      const payload = tag.body.subarray(payloadOffset);
      const pts = tag.timestamp + ctsMs;
      frames.push({ ...base, pts, keyframe, sequenceHeader: false, payload });
    }
  }
  return { tracks, frames };
}

interface ProbedPacket {
  codec_type: string;
  pts: number;
  dts: number;
  flags: string;
}
interface Probe {
  streams: { codec_type: string; codec_name: string; width?: number; height?: number }[];
  packets: ProbedPacket[];
}

/**
 * Muxes `frames` into one .ts file, a segment header before every video keyframe, then checks it
 * with ffprobe and a full ffmpeg decode. Returns what ffprobe saw and the frames that were muxed.
 */
function muxAndProbe(tracks: Track[], frames: Frame[]): { probe: Probe; muxed: Frame[] } {
  const muxer = new TsMuxer(tracks);
  const parts: Buffer[] = [muxer.segmentHeader()];
  const muxed: Frame[] = [];
  for (const f of frames) {
    if (f.kind === 'video' && f.keyframe && muxed.length > 0) parts.push(muxer.segmentHeader());
    const out = muxer.encodeFrame(f);
    if (out.length > 0) muxed.push(f);
    parts.push(out);
  }
  const ts = Buffer.concat(parts);
  demux(ts); // continuity counters, whole packets
  const dir = mkdtempSync(join(tmpdir(), 'onair-ts-'));
  try {
    const file = join(dir, 'out.ts');
    writeFileSync(file, ts);
    const probe = spawnSync(
      'ffprobe',
      ['-v', 'error', '-show_streams', '-show_packets', '-of', 'json', file],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stderr, '', 'ffprobe reports no errors');
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-'], {
      encoding: 'utf8',
    });
    assert.equal(decode.status, 0, decode.stderr);
    assert.equal(decode.stderr, '', 'ffmpeg decodes with no error output');
    return { probe: JSON.parse(probe.stdout) as Probe, muxed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Checks ffprobe's packets of one kind against the frames muxed: count, PTS, DTS, keyframes. */
function assertPackets(probe: Probe, muxed: Frame[], kind: 'video' | 'audio'): void {
  const packets = probe.packets.filter((p) => p.codec_type === kind);
  const frames = muxed.filter((f) => f.kind === kind);
  assert.ok(frames.length > 0, `some ${kind} frames`);
  assert.equal(packets.length, frames.length, `${kind} packet count`);
  const expect = frames.map((f) => ({
    pts: f.pts * 90 + TIMESTAMP_OFFSET_90K,
    dts: f.dts * 90 + TIMESTAMP_OFFSET_90K,
    key: kind === 'audio' || f.keyframe,
  }));
  const got = packets.map((p) => ({ pts: p.pts, dts: p.dts, key: p.flags.startsWith('K') }));
  assert.deepEqual(got, expect, `${kind} timestamps and keyframes`);
}

const FFMPEG_INPUTS = [
  ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25'],
  ...['-f', 'lavfi', '-i', 'sine', '-t', '2'],
];

test(
  'TsMuxer muxes an ffmpeg H.264 + AAC FLV into TS that ffprobe and ffmpeg read cleanly',
  { skip: !hasFfmpeg && 'no ffmpeg' },
  () => {
    const flv = execFileSync(
      'ffmpeg',
      [
        '-v',
        'error',
        ...FFMPEG_INPUTS,
        '-c:v',
        'libx264',
        '-g',
        '25',
        '-c:a',
        'aac',
        '-f',
        'flv',
        'pipe:1',
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const { tracks, frames } = framesFromFlv(flv);
    const { probe, muxed } = muxAndProbe(tracks, frames);
    assert.deepEqual(
      probe.streams.map((s) => [s.codec_type, s.codec_name, s.width, s.height]),
      [
        ['video', 'h264', 320, 240],
        ['audio', 'aac', undefined, undefined],
      ],
    );
    assert.equal(muxed.filter((f) => f.kind === 'video').length, 50);
    assert.ok(
      frames.some((f) => f.kind === 'video' && f.pts > f.dts),
      'B-frames exercise PTS > DTS',
    );
    assertPackets(probe, muxed, 'video');
    assertPackets(probe, muxed, 'audio');
  },
);

test(
  'TsMuxer muxes an ffmpeg H.264 + MP3 FLV into TS that ffprobe and ffmpeg read cleanly',
  { skip: !hasFfmpeg && 'no ffmpeg' },
  () => {
    const flv = execFileSync(
      'ffmpeg',
      [
        ...['-v', 'error', ...FFMPEG_INPUTS, '-c:v', 'libx264', '-g', '25'],
        ...['-c:a', 'libmp3lame', '-ar', '44100', '-f', 'flv', 'pipe:1'],
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const { tracks, frames } = framesFromFlv(flv);
    const { probe, muxed } = muxAndProbe(tracks, frames);
    assert.deepEqual(
      probe.streams.map((s) => s.codec_name),
      ['h264', 'mp3'],
    );
    assertPackets(probe, muxed, 'video');
    assertPackets(probe, muxed, 'audio');
  },
);

/** Splits an Annex B byte stream into NAL units (start codes and trailing zeros removed). */
function splitAnnexB(stream: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((start, k) => {
    let end = k + 1 < starts.length ? starts[k + 1]! - 3 : stream.length;
    while (end > start && stream[end - 1] === 0) end--;
    return stream.subarray(start, end);
  });
}

/**
 * An HEVC track and 25 fps frames from a raw HEVC stream without B-frames, shaped like enhanced
 * RTMP delivers them: parameter sets only in the hvcC, AVCC-style length-prefixed NAL units.
 */
function hevcFromAnnexB(stream: Buffer): { track: VideoTrack; frames: Frame[] } {
  const sets = new Map<number, Buffer>();
  const units: { nals: Buffer[]; keyframe: boolean }[] = [];
  let pending: Buffer[] = [];
  for (const nal of splitAnnexB(stream)) {
    const type = (nal[0]! >>> 1) & 0x3f;
    if (type >= 32 && type <= 34) {
      if (!sets.has(type)) sets.set(type, nal);
    } else if (type < 32 && (nal[2]! & 0x80) !== 0) {
      // first_slice_segment_in_pic_flag: a new picture starts here.
      units.push({ nals: [...pending, nal], keyframe: type >= 16 && type <= 23 });
      pending = [];
    } else if (type < 32 || type === 40) {
      units.at(-1)?.nals.push(nal); // later slices, suffix SEI
    } else if (type !== 35) {
      pending.push(nal); // prefix SEI and the like belong to the next picture
    }
  }
  const config = hvcC([sets.get(32)!, sets.get(33)!, sets.get(34)!]);
  const frames = units.map((unit, i): Frame => ({
    ...frame('video', avcc(unit.nals), { dtsMs: i * 40 }),
    keyframe: unit.keyframe,
  }));
  return { track: { kind: 'video', codec: 'hevc', config }, frames };
}

const hasX265 =
  hasFfmpeg &&
  spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout.includes(
    'libx265',
  );

test(
  'TsMuxer muxes libx265 HEVC into TS that ffprobe and ffmpeg read cleanly',
  { skip: !hasX265 && 'no ffmpeg with libx265' },
  () => {
    const raw = execFileSync(
      'ffmpeg',
      [
        ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '2'],
        ...['-c:v', 'libx265', '-x265-params', 'bframes=0:keyint=25:min-keyint=25:log-level=error'],
        ...['-f', 'hevc', 'pipe:1'],
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const { track, frames } = hevcFromAnnexB(raw);
    assert.equal(frames.length, 50);
    assert.equal(frames.filter((f) => f.keyframe).length, 2);
    const { probe, muxed } = muxAndProbe([track], frames);
    assert.deepEqual(
      probe.streams.map((s) => [s.codec_name, s.width, s.height]),
      [['hevc', 320, 240]],
    );
    assertPackets(probe, muxed, 'video');
  },
);
