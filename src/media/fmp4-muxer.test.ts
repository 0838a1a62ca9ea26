import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from '../codecs/codec-error.ts';
import { FlvDecoder, FlvTagType } from '../codecs/flv.ts';
import { av1SequenceHeaderSize } from '../codecs/av1.ts';
import { hevcSpsSize } from '../codecs/hevc.ts';
import { buildVp8CodecConfig } from '../codecs/rtp-vp8.ts';
import { opusPacketDurationSamples } from '../codecs/opus.ts';
import {
  codecsString,
  encodeFragment,
  encodeInitSegment,
  msToTicks,
  sampleData,
  timescaleOf,
} from './fmp4-muxer.ts';
import type { Fmp4Sample, Fmp4TrackRun } from './fmp4-muxer.ts';
import { parseAudioTag, parseVideoTag } from './flv-tag-parser.ts';
import type { Frame } from './frame.ts';
import type { Track } from './track.ts';
import { AV1_OPUS_FLV } from '../../test/support/fixtures.ts';

const AV1_OPUS_FIXTURE = AV1_OPUS_FLV;

/** libx264 320x240 High@1.3 SPS and PPS in an AVCDecoderConfigurationRecord. */
const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const AVCC = Buffer.concat([
  Buffer.from([1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, SPS.length]),
  SPS,
  Buffer.from([1, 0, PPS.length]),
  PPS,
]);
/** The fixture's av1C: seq_profile 1, level 4, 8-bit, with a sequence header OBU. */
const AV1C = Buffer.from('812400000a0e20000024cfa70dbfff3404340080', 'hex');
const OPUS_HEAD = Buffer.from('4f707573486561640102380180bb0000000000', 'hex');
const H264: Track = { kind: 'video', codec: 'h264', config: AVCC, width: 320, height: 240 };
const AV1: Track = { kind: 'video', codec: 'av1', config: AV1C };
const AAC: Track = {
  kind: 'audio',
  codec: 'aac',
  config: Buffer.from('1210', 'hex'),
  sampleRate: 44100,
  channels: 2,
};
const OPUS: Track = { kind: 'audio', codec: 'opus', config: OPUS_HEAD, sampleRate: 48000 };

/** Copies a NAL unit without its emulation prevention bytes (00 00 03 -> 00 00). */
function rbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out.push(byte);
  }
  return Buffer.from(out);
}

/** A 4-byte big-endian length. */
const u32 = (n: number): Buffer =>
  Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

/**
 * An x265 320x240 stream of `frameCount` frames (keyframe every 25, no B-frames) as onair would
 * get it over enhanced RTMP: an hvcC built from the in-band VPS/SPS/PPS, and one Frame per
 * access unit with 4-byte NAL lengths (parameter sets and AUDs left out, as hvc1 wants).
 */
function x265Stream(frameCount: number): { config: Buffer; frames: Frame[] } {
  const annexB = execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25'],
      ...['-frames:v', String(frameCount), '-c:v', 'libx265'],
      ...['-x265-params', 'log-level=error:aud=1:keyint=25:bframes=0', '-f', 'hevc', 'pipe:1'],
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const starts: number[] = [];
  for (let i = 0; i + 3 <= annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) starts.push(i + 3);
  }
  const nals = starts.map((start, i) => {
    let end = i + 1 < starts.length ? starts[i + 1]! - 3 : annexB.length;
    while (end > start && annexB[end - 1] === 0) end--; // the 4-byte start code's extra zero
    return annexB.subarray(start, end);
  });
  const byType = (type: number): Buffer => nals.find((n) => n[0]! >>> 1 === type)!;
  const [vps, sps, pps] = [byType(32), byType(33), byType(34)];
  const ptl = rbsp(sps.subarray(2)).subarray(1, 13); // general profile_tier_level, 12 bytes
  const config = Buffer.concat([
    Buffer.from([1]),
    ptl,
    Buffer.from([0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3]),
    ...[vps, sps, pps].map((nal) =>
      Buffer.concat([
        Buffer.from([0x80 | (nal[0]! >>> 1), 0, 1, nal.length >> 8, nal.length & 0xff]),
        nal,
      ]),
    ),
  ]);
  const units: Buffer[][] = [];
  for (const nal of nals) {
    const type = nal[0]! >>> 1;
    if (type === 35) units.push([]);
    else if (type < 32) units.at(-1)?.push(nal);
  }
  const frames = units.map((unit, i): Frame => {
    const payload = Buffer.concat(unit.flatMap((nal) => [u32(nal.length), nal]));
    const keyframe = unit.some((nal) => nal[0]! >>> 1 >= 16 && nal[0]! >>> 1 <= 23);
    return frameOf('video', payload, { dtsMs: i * 40, keyframe });
  });
  return { config, frames };
}

/** A top-level or child box as the tests read it back. */
interface Box {
  readonly type: string;
  readonly body: Buffer;
}

/** Splits `buf` into boxes; fails unless their sizes add up to exactly `buf.length`. */
function boxes(buf: Buffer): Box[] {
  const out: Box[] = [];
  let at = 0;
  while (at < buf.length) {
    assert.ok(at + 8 <= buf.length, `box header at ${at} fits`);
    const size = buf.readUInt32BE(at);
    assert.ok(size >= 8 && at + size <= buf.length, `box size ${size} at ${at} fits`);
    out.push({
      type: buf.toString('latin1', at + 4, at + 8),
      body: buf.subarray(at + 8, at + size),
    });
    at += size;
  }
  assert.equal(at, buf.length);
  return out;
}

/** The body of the one child of `body` of type `type`. */
function child(body: Buffer, type: string): Buffer {
  const found = boxes(body).filter((b) => b.type === type);
  assert.equal(found.length, 1, `one ${type}`);
  return found[0]!.body;
}

/** Walks a path of container boxes: path('moov', 'trak', 'mdia'). */
function path(buf: Buffer, ...types: string[]): Buffer {
  return types.reduce(child, buf);
}

/** A frame of `kind` (timescale 1000) carrying `payload`. */
function frameOf(
  kind: Frame['kind'],
  payload: Buffer,
  options: { dtsMs?: number; keyframe?: boolean; sequenceHeader?: boolean } = {},
): Frame {
  const dts = options.dtsMs ?? 0;
  return {
    kind,
    timescale: 1000,
    dts,
    pts: dts,
    keyframe: options.keyframe ?? false,
    sequenceHeader: options.sequenceHeader ?? false,
    payload,
  };
}

test('timescaleOf() is 90000 for video, the sample rate for AAC and 48000 for Opus', () => {
  assert.equal(timescaleOf(H264), 90000);
  assert.equal(timescaleOf(AV1), 90000);
  assert.equal(timescaleOf(AAC), 44100);
  assert.equal(timescaleOf({ ...AAC, sampleRate: undefined } as unknown as Track), 44100);
  assert.equal(timescaleOf({ ...OPUS, sampleRate: 16000 }), 48000);
});

test('msToTicks() rounds to the nearest tick of the timescale', () => {
  assert.equal(msToTicks(40, 90000), 3600);
  assert.equal(msToTicks(23, 44100), 1014); // 1014.3
  assert.equal(msToTicks(1000, 44100), 44100);
  assert.equal(msToTicks(2 ** 32, 90000), 2 ** 32 * 90);
});

test('codecsString() gives the RFC 6381 string of each codec', () => {
  assert.equal(codecsString(H264), 'avc1.64000d');
  assert.equal(codecsString(AV1), 'av01.1.04M.08');
  assert.equal(codecsString(AAC), 'mp4a.40.2');
  assert.equal(codecsString({ ...AAC, config: Buffer.from('2b920800', 'hex') }), 'mp4a.40.5');
  assert.equal(codecsString(OPUS), 'opus');
  // hvcC of x265 Main@3.1: profile space 0, compat 0x60000000, constraint byte 0x90.
  const hvcC = Buffer.from('0101600000009000000000005df000fcfdf8f800000f00', 'hex');
  assert.equal(codecsString({ kind: 'video', codec: 'hevc', config: hvcC }), 'hvc1.1.6.L93.90');
  const main10HighTier = Buffer.from('01224000000090b0000000009cf000fcfdf8f800000f00', 'hex');
  assert.equal(
    codecsString({ kind: 'video', codec: 'hevc', config: main10HighTier }),
    'hvc1.2.2.H156.90.B0',
  );
});

test('codecsString() and encodeInitSegment() reject VP9 and MP3 with ERR_FMP4_UNSUPPORTED_CODEC', () => {
  const vp9: Track = { kind: 'video', codec: 'vp9', config: Buffer.alloc(8) };
  const mp3: Track = { kind: 'audio', codec: 'mp3', config: Buffer.alloc(0), sampleRate: 44100 };
  for (const track of [vp9, mp3]) {
    const code = { code: 'ERR_FMP4_UNSUPPORTED_CODEC' };
    assert.throws(() => codecsString(track), code);
    assert.throws(() => encodeInitSegment([H264, track]), code);
  }
});

test('VP8: codecsString() vp08.00.21.08, a vp08 sample entry with a version-1 vpcC and the size', () => {
  const vp8: Track = {
    kind: 'video',
    codec: 'vp8',
    config: buildVp8CodecConfig(640, 360),
    width: 640,
    height: 360,
  };
  assert.equal(codecsString(vp8), 'vp08.00.21.08');
  const init = encodeInitSegment([vp8]);
  const entry = init.indexOf('vp08', 0, 'latin1');
  assert.ok(entry > 0, 'a vp08 sample entry');
  assert.equal(init.readUInt16BE(entry + 4 + 24), 640);
  assert.equal(init.readUInt16BE(entry + 4 + 26), 360);
  const vpcC = init.indexOf('vpcC', 0, 'latin1');
  assert.equal(init.readUInt32BE(vpcC - 4), 8 + 4 + 8, 'box, version and flags, record');
  assert.deepEqual(init.subarray(vpcC + 4, vpcC + 8), Buffer.from([1, 0, 0, 0]));
  assert.deepEqual(init.subarray(vpcC + 8, vpcC + 16), vp8.config);
  const short = { ...vp8, config: Buffer.alloc(7) };
  assert.throws(() => codecsString(short), { code: 'ERR_FMP4_FIELD_RANGE' });
  assert.throws(() => encodeInitSegment([short]), { code: 'ERR_FMP4_FIELD_RANGE' });
});

test('encodeInitSegment() rejects a malformed config record with the codec error', () => {
  assert.throws(
    () => encodeInitSegment([{ ...H264, config: Buffer.from([2, 0, 0, 0, 0, 0, 0]) }]),
    {
      code: 'ERR_H264_CONFIG',
    },
  );
  assert.throws(() => encodeInitSegment([{ ...AV1, config: Buffer.from([0x80, 0, 0, 0]) }]), {
    code: 'ERR_AV1_CONFIG',
  });
  assert.throws(() => encodeInitSegment([{ ...OPUS, config: Buffer.from('OpusHead') }]), {
    code: 'ERR_OPUS_HEAD',
  });
  assert.throws(() => encodeInitSegment([{ ...AAC, config: Buffer.from([0x12]) }]), {
    code: 'ERR_AAC_CONFIG',
  });
});

test('encodeInitSegment() writes ftyp iso6/cmfc and a moov with one trak per track, ids 1..n', () => {
  const init = encodeInitSegment([H264, AAC]);
  const top = boxes(init);
  assert.deepEqual(
    top.map((b) => b.type),
    ['ftyp', 'moov'],
  );
  assert.equal(top[0]!.body.toString('latin1'), 'iso6\0\0\0\0iso6cmfc');
  const moov = top[1]!.body;
  assert.deepEqual(
    boxes(moov).map((b) => b.type),
    ['mvhd', 'trak', 'trak', 'mvex'],
  );
  assert.equal(path(moov, 'mvhd').readUInt32BE(96), 3, 'next_track_ID');
  const [video, audio] = boxes(moov).filter((b) => b.type === 'trak');
  const tkhd = child(video!.body, 'tkhd');
  assert.equal(tkhd.readUInt32BE(12), 1, 'video track_ID');
  assert.equal(tkhd.readUInt32BE(76), 320 << 16);
  assert.equal(tkhd.readUInt32BE(80), 240 << 16);
  assert.equal(child(audio!.body, 'tkhd').readUInt32BE(12), 2, 'audio track_ID');
  assert.equal(child(audio!.body, 'tkhd').readUInt16BE(36), 0x0100, 'audio volume');
  assert.equal(path(video!.body, 'mdia', 'mdhd').readUInt32BE(12), 90000);
  assert.equal(path(audio!.body, 'mdia', 'mdhd').readUInt32BE(12), 44100);
  assert.equal(path(video!.body, 'mdia', 'hdlr').toString('latin1', 8, 12), 'vide');
  assert.equal(path(audio!.body, 'mdia', 'hdlr').toString('latin1', 8, 12), 'soun');
  const stbl = path(video!.body, 'mdia', 'minf', 'stbl');
  assert.deepEqual(
    boxes(stbl).map((b) => b.type),
    ['stsd', 'stts', 'stsc', 'stsz', 'stco'],
  );
  const avc1 = boxes(child(stbl, 'stsd').subarray(8));
  assert.equal(avc1[0]!.type, 'avc1');
  assert.equal(avc1[0]!.body.readUInt16BE(24), 320, 'avc1 width');
  assert.equal(avc1[0]!.body.readUInt16BE(26), 240, 'avc1 height');
  assert.deepEqual(child(avc1[0]!.body.subarray(78), 'avcC'), AVCC);
  const trex = boxes(path(moov, 'mvex')).map((b) => b.body.readUInt32BE(4));
  assert.deepEqual(trex, [1, 2]);
});

test('encodeInitSegment() writes av01 with the size from the av1C sequence header OBU', () => {
  const moov = path(encodeInitSegment([AV1, OPUS]), 'moov');
  const [video, audio] = boxes(moov).filter((b) => b.type === 'trak');
  const stsd = path(video!.body, 'mdia', 'minf', 'stbl', 'stsd');
  const av01 = boxes(stsd.subarray(8))[0]!;
  assert.equal(av01.type, 'av01');
  assert.deepEqual([av01.body.readUInt16BE(24), av01.body.readUInt16BE(26)], [980, 540]);
  assert.deepEqual(child(av01.body.subarray(78), 'av1C'), AV1C);
  const opus = boxes(path(audio!.body, 'mdia', 'minf', 'stbl', 'stsd').subarray(8))[0]!;
  assert.equal(opus.type, 'Opus');
  assert.equal(opus.body.readUInt16BE(16), 2, 'channelcount');
  assert.equal(opus.body.readUInt32BE(24), 48000 * 65536, 'samplerate');
  // dOps: version 0, 2 channels, pre-skip 312 and 48000 Hz big-endian, gain 0, family 0.
  assert.deepEqual(
    child(opus.body.subarray(28), 'dOps'),
    Buffer.from('000201380000bb80000000', 'hex'),
  );
});

test('encodeInitSegment() gives an AAC track with channelConfiguration 0 two channels in mp4a', () => {
  const pce: Track = {
    kind: 'audio',
    codec: 'aac',
    config: Buffer.from('1200', 'hex'),
    channels: 0,
  };
  const trak = boxes(path(encodeInitSegment([pce]), 'moov')).find((b) => b.type === 'trak')!;
  const mp4a = boxes(path(trak.body, 'mdia', 'minf', 'stbl', 'stsd').subarray(8))[0]!;
  assert.equal(mp4a.type, 'mp4a');
  assert.equal(mp4a.body.readUInt16BE(16), 2, 'channelcount');
  assert.equal(mp4a.body.readUInt32BE(24), 44100 * 65536, 'samplerate');
});

test('av1SequenceHeaderSize() reads max_frame_width/height; hevcSpsSize() the cropped SPS size', () => {
  assert.deepEqual(av1SequenceHeaderSize(AV1C.subarray(4)), { widthPx: 980, heightPx: 540 });
  assert.throws(() => av1SequenceHeaderSize(Buffer.alloc(0)), { code: 'ERR_AV1_CONFIG' });
  assert.throws(() => av1SequenceHeaderSize(AV1C.subarray(4, 9)), { code: 'ERR_AV1_CONFIG' });
  const hevc = x265Stream(1);
  assert.deepEqual(hevcSpsSize(hevc.config), { widthPx: 320, heightPx: 240 });
  assert.throws(() => hevcSpsSize(hevc.config.subarray(0, 30)), { code: 'ERR_HEVC_CONFIG' });
});

test('sampleData() passes AVC and audio payloads through without copying', () => {
  const nal = Buffer.from([0, 0, 0, 2, 0x65, 0x88]);
  const frame = frameOf('video', nal, { keyframe: true });
  const data = sampleData(H264, frame);
  assert.deepEqual(data, nal);
  assert.equal(data, frame.payload, 'the frame payload itself');
  assert.deepEqual(
    sampleData(AAC, frameOf('audio', Buffer.from([0x21, 0x10]))),
    Buffer.from([0x21, 0x10]),
  );
});

test('sampleData() is empty for sequence headers, script data and frames without payload', () => {
  assert.equal(sampleData(H264, frameOf('video', Buffer.alloc(0))).length, 0);
  assert.equal(
    sampleData(H264, frameOf('video', Buffer.from([1]), { sequenceHeader: true })).length,
    0,
  );
  assert.equal(sampleData(H264, frameOf('data', Buffer.from([1]))).length, 0);
});

test('sampleData() removes AV1 temporal delimiter OBUs and keeps everything else', () => {
  const td = [0x12, 0x00];
  const frameHeader = [0x1a, 0x01, 0xc8];
  const padding = [0x7a, 0x02, 0xaa, 0xbb];
  const av1 = (bytes: number[]): Buffer => sampleData(AV1, frameOf('video', Buffer.from(bytes)));
  assert.deepEqual(av1([...td, ...frameHeader]), Buffer.from(frameHeader));
  assert.deepEqual(
    av1([...frameHeader, ...td, ...padding]),
    Buffer.from([...frameHeader, ...padding]),
  );
  assert.deepEqual(av1([...frameHeader]), Buffer.from(frameHeader));
  assert.equal(av1([...td, ...td]).length, 0);
  // An OBU with the extension byte, and a last OBU without a size field.
  assert.deepEqual(av1([...td, 0x1c, 0x00, 0x01, 0xc8]), Buffer.from([0x1c, 0x00, 0x01, 0xc8]));
  assert.deepEqual(av1([...td, 0x18, 0xc8, 0x12]), Buffer.from([0x18, 0xc8, 0x12]));
  // A truncated OBU after a TD: the rest is kept unchanged, nothing throws.
  assert.deepEqual(av1([...td, 0x1a, 0x09, 0xc8]), Buffer.from([0x1a, 0x09, 0xc8]));
});

/** The parts of a trun the tests check. */
interface ParsedTrun {
  readonly trackId: number;
  readonly baseDecodeTime: number;
  readonly dataOffset: number;
  readonly samples: { duration: number; size: number; flags: number; cts: number }[];
}

/** Parses moof + mdat back, checking every box size on the way. */
function parseFragment(fragment: Buffer): { sequence: number; runs: ParsedTrun[]; mdat: Buffer } {
  const top = boxes(fragment);
  assert.deepEqual(
    top.map((b) => b.type),
    ['moof', 'mdat'],
  );
  const moof = top[0]!.body;
  const parts = boxes(moof);
  assert.equal(parts[0]!.type, 'mfhd');
  const runs = parts.slice(1).map((traf): ParsedTrun => {
    assert.equal(traf.type, 'traf');
    const tfhd = child(traf.body, 'tfhd');
    assert.equal(tfhd.readUInt32BE(0), 0x020000, 'tfhd default-base-is-moof');
    const tfdt = child(traf.body, 'tfdt');
    assert.equal(tfdt[0], 1, 'tfdt version 1');
    const trun = child(traf.body, 'trun');
    assert.equal(trun[0], 1, 'trun version 1');
    const flags = trun.readUIntBE(1, 3);
    const hasCts = (flags & 0x800) !== 0;
    const count = trun.readUInt32BE(4);
    assert.equal(trun.length, 12 + count * (hasCts ? 16 : 12), 'trun size');
    const samples = Array.from({ length: count }, (_, i) => {
      const at = 12 + i * (hasCts ? 16 : 12);
      return {
        duration: trun.readUInt32BE(at),
        size: trun.readUInt32BE(at + 4),
        flags: trun.readUInt32BE(at + 8),
        cts: hasCts ? trun.readInt32BE(at + 12) : 0,
      };
    });
    return {
      trackId: tfhd.readUInt32BE(4),
      baseDecodeTime: tfdt.readUInt32BE(4) * 2 ** 32 + tfdt.readUInt32BE(8),
      dataOffset: trun.readInt32BE(8),
      samples,
    };
  });
  return { sequence: parts[0]!.body.readUInt32BE(4), runs, mdat: top[1]!.body };
}

test('encodeFragment() writes mfhd, a traf per run and the samples in one mdat at the data offsets', () => {
  const video: Fmp4Sample[] = [
    { data: Buffer.from('key'), durationTicks: 3600, ctsOffsetTicks: 7200, keyframe: true },
    { data: Buffer.from('b-frame'), durationTicks: 3600, ctsOffsetTicks: -3600, keyframe: false },
  ];
  const audio: Fmp4Sample[] = [
    { data: Buffer.from('aac1'), durationTicks: 1024, ctsOffsetTicks: 0, keyframe: true },
  ];
  const fragment = encodeFragment(7, [
    { trackId: 1, baseDecodeTimeTicks: 2 ** 33 + 5, samples: video },
    { trackId: 2, baseDecodeTimeTicks: 1000, samples: audio },
  ]);
  const { sequence, runs, mdat } = parseFragment(fragment);
  assert.equal(sequence, 7);
  assert.equal(mdat.toString('latin1'), 'keyb-frameaac1');
  const [v, a] = runs;
  assert.equal(v!.trackId, 1);
  assert.equal(v!.baseDecodeTime, 2 ** 33 + 5);
  assert.deepEqual(v!.samples, [
    { duration: 3600, size: 3, flags: 0x02000000, cts: 7200 },
    { duration: 3600, size: 7, flags: 0x01010000, cts: -3600 },
  ]);
  assert.equal(fragment.toString('latin1', v!.dataOffset, v!.dataOffset + 3), 'key');
  assert.equal(a!.trackId, 2);
  assert.deepEqual(a!.samples, [{ duration: 1024, size: 4, flags: 0x02000000, cts: 0 }]);
  assert.equal(fragment.toString('latin1', a!.dataOffset, a!.dataOffset + 4), 'aac1');
});

test('encodeFragment() rejects values that do not fit their fields with ERR_FMP4_FIELD_RANGE', () => {
  const sample: Fmp4Sample = {
    data: Buffer.alloc(1),
    durationTicks: 1,
    ctsOffsetTicks: 0,
    keyframe: true,
  };
  const run: Fmp4TrackRun = { trackId: 1, baseDecodeTimeTicks: 0, samples: [sample] };
  const bad: [number, Fmp4TrackRun][] = [
    [-1, run],
    [2 ** 32, run],
    [1, { ...run, trackId: 0 }],
    [1, { ...run, baseDecodeTimeTicks: -1 }],
    [1, { ...run, baseDecodeTimeTicks: 0.5 }],
    [1, { ...run, samples: [{ ...sample, durationTicks: 2 ** 32 }] }],
    [1, { ...run, samples: [{ ...sample, durationTicks: Number.NaN }] }],
    [1, { ...run, samples: [{ ...sample, ctsOffsetTicks: 2 ** 31 }] }],
  ];
  for (const [sequence, r] of bad) {
    assert.throws(
      () => encodeFragment(sequence, [r]),
      (e) => e instanceof CodecError && e.code === 'ERR_FMP4_FIELD_RANGE',
    );
  }
});

test('encodeFragment() property: random runs never throw and every box size adds up', () => {
  const sampleArb = fc.record({
    data: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    durationTicks: fc.nat({ max: 2 ** 32 - 1 }),
    ctsOffsetTicks: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    keyframe: fc.boolean(),
  });
  const runArb = fc.record({
    trackId: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
    baseDecodeTimeTicks: fc.maxSafeNat(),
    samples: fc.array(sampleArb, { maxLength: 20 }),
  });
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 32 - 1 }), fc.array(runArb, { maxLength: 4 }), (seq, runs) => {
      const fragment = encodeFragment(seq, runs);
      const parsed = parseFragment(fragment);
      assert.equal(parsed.sequence, seq);
      const all = runs.flatMap((r) => r.samples);
      assert.equal(
        parsed.mdat.length,
        all.reduce((sum, s) => sum + s.data.length, 0),
      );
      assert.deepEqual(parsed.mdat, Buffer.concat(all.map((s) => s.data)));
      parsed.runs.forEach((p, i) => {
        const run = runs[i]!;
        assert.equal(p.trackId, run.trackId);
        assert.equal(p.baseDecodeTime, run.baseDecodeTimeTicks);
        assert.deepEqual(
          p.samples.map((s) => [s.duration, s.size, s.cts, s.flags === 0x02000000]),
          run.samples.map((s) => [s.durationTicks, s.data.length, s.ctsOffsetTicks, s.keyframe]),
        );
        const bytes = p.samples.reduce((sum, s) => sum + s.size, 0);
        assert.deepEqual(
          fragment.subarray(p.dataOffset, p.dataOffset + bytes),
          Buffer.concat(run.samples.map((s) => s.data)),
        );
      });
    }),
  );
});

// ---- End to end: FLV -> Frames/Tracks -> fMP4 -> ffprobe / ffmpeg ----

/** Tracks and frames of an FLV file, as the RTMP ingest would make them. */
function demuxFlv(flv: Buffer): { video?: Track; audio?: Track; frames: Frame[] } {
  let video: Track | undefined;
  let audio: Track | undefined;
  const frames: Frame[] = [];
  for (const tag of new FlvDecoder().push(flv)) {
    if (tag.type !== FlvTagType.Video && tag.type !== FlvTagType.Audio) continue;
    const kind = tag.type === FlvTagType.Video ? 'video' : 'audio';
    const parse = kind === 'video' ? parseVideoTag(tag.body) : parseAudioTag(tag.body);
    if (parse.type === 'sequence-header') {
      if (kind === 'video') video ??= parse.track;
      else audio ??= parse.track;
    } else if (parse.type === 'frame') {
      frames.push({
        kind,
        timescale: 1000,
        dts: tag.timestamp,
        pts: tag.timestamp + parse.ctsMs,
        keyframe: parse.keyframe,
        sequenceHeader: false,
        payload: tag.body.subarray(parse.payloadOffset),
        flvBody: tag.body,
      });
    }
  }
  return { ...(video && { video }), ...(audio && { audio }), frames };
}

/** A sample with its decode time, before it is placed in a fragment. */
interface TimedSample extends Fmp4Sample {
  readonly dtsMs: number;
  readonly dtsTicks: number;
}

/**
 * A minimal segmenter: one fragment per video keyframe (audio before the first keyframe joins the
 * first), sample durations from the next dts of the same track (the last repeats the previous).
 */
function muxFmp4(
  tracks: readonly Track[],
  frames: readonly Frame[],
): { file: Buffer; counts: number[] } {
  const perTrack = tracks.map((track): TimedSample[] => {
    const timescale = timescaleOf(track);
    const own = frames.filter((f) => f.kind === track.kind);
    const timed = own.flatMap((frame) => {
      const data = sampleData(track, frame);
      if (data.length === 0) return [];
      const dtsTicks = msToTicks(frame.dts, timescale);
      const ctsOffsetTicks = msToTicks(frame.pts, timescale) - dtsTicks;
      const keyframe = track.kind === 'audio' || frame.keyframe;
      return [{ data, dtsMs: frame.dts, dtsTicks, ctsOffsetTicks, keyframe, durationTicks: 0 }];
    });
    return timed.map((s, i) => {
      const next = timed[i + 1];
      const previous = timed[i - 1];
      const durationTicks = next
        ? next.dtsTicks - s.dtsTicks
        : previous
          ? s.dtsTicks - previous.dtsTicks
          : 0;
      return { ...s, durationTicks };
    });
  });
  const cuts = frames.filter((f) => f.kind === 'video' && f.keyframe).map((f) => f.dts);
  const parts = [encodeInitSegment(tracks)];
  cuts.forEach((cut, i) => {
    const end = cuts[i + 1] ?? Infinity;
    const start = i === 0 ? -Infinity : cut;
    const runs = perTrack.flatMap((samples, t): Fmp4TrackRun[] => {
      const inRange = samples.filter((s) => s.dtsMs >= start && s.dtsMs < end);
      const first = inRange[0];
      if (first === undefined) return [];
      const plain = inRange.map(({ data, durationTicks, ctsOffsetTicks, keyframe }) => ({
        data,
        durationTicks,
        ctsOffsetTicks,
        keyframe,
      }));
      return [{ trackId: t + 1, baseDecodeTimeTicks: first.dtsTicks, samples: plain }];
    });
    parts.push(encodeFragment(i + 1, runs));
  });
  return { file: Buffer.concat(parts), counts: perTrack.map((s) => s.length) };
}

/** Runs ffprobe on the file and returns codec, size and packet count per stream. */
function probe(file: string): Record<string, string>[] {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-show_streams', '-count_packets', '-of', 'json', file],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as { streams: Record<string, string>[] }).streams;
}

/** Decodes the file with ffmpeg to null; returns what ffmpeg printed at level error. */
function decodeErrors(file: string, extra: string[] = []): string {
  const result = spawnSync('ffmpeg', ['-v', 'error', ...extra, '-i', file, '-f', 'null', '-'], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stderr;
}

/** Writes `data` to a temp file, runs `check` with its path, then removes it. */
function withTempFile(name: string, data: Buffer, check: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'onair-fmp4-'));
  try {
    const file = join(dir, name);
    writeFileSync(file, data);
    check(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('fMP4 of an ffmpeg H.264 + AAC FLV: ffprobe sees h264 320x240 and aac with the packets written, ffmpeg decodes it', () => {
  const flv = execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25'],
      ...['-f', 'lavfi', '-i', 'sine', '-t', '2', '-c:v', 'libx264', '-g', '25'],
      ...['-c:a', 'aac', '-f', 'flv', 'pipe:1'],
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const { video, audio, frames } = demuxFlv(flv);
  assert.ok(video && audio, 'both sequence headers');
  assert.equal(codecsString(video), 'avc1.64000d');
  const { file, counts } = muxFmp4([video, audio], frames);
  assert.ok(counts[0]! >= 50 && counts[1]! > 80, `samples ${counts.join(', ')}`);
  withTempFile('h264-aac.mp4', file, (path) => {
    const [v, a] = probe(path);
    assert.ok(v && a, 'two streams');
    assert.equal(v.codec_name, 'h264');
    assert.equal(Number(v.width), 320);
    assert.equal(Number(v.height), 240);
    assert.equal(Number(v.nb_read_packets), counts[0]);
    assert.equal(a.codec_name, 'aac');
    assert.equal(Number(a.sample_rate), 44100);
    assert.equal(Number(a.nb_read_packets), counts[1]);
    assert.equal(decodeErrors(path, ['-xerror']), '');
  });
});

test('fMP4 of an x265 HEVC stream: ffprobe sees hevc 320x240 with the packets written, ffmpeg decodes it', () => {
  const { config, frames } = x265Stream(50);
  const hevc: Track = { kind: 'video', codec: 'hevc', config };
  assert.equal(codecsString(hevc), 'hvc1.1.6.L60.90');
  assert.equal(frames.filter((f) => f.keyframe).length, 2);
  const { file, counts } = muxFmp4([hevc], frames);
  assert.deepEqual(counts, [50]);
  withTempFile('hevc.mp4', file, (path) => {
    const [v] = probe(path);
    assert.ok(v, 'one stream');
    assert.equal(v.codec_name, 'hevc');
    assert.equal(v.codec_tag_string, 'hvc1');
    assert.equal(Number(v.width), 320);
    assert.equal(Number(v.height), 240);
    assert.equal(Number(v.nb_read_packets), 50);
    assert.equal(decodeErrors(path, ['-xerror']), '');
  });
});

test('fMP4 of the enhanced-RTMP AV1 + Opus fixture: ffprobe sees av1 980x540 and opus, ffmpeg decodes it', () => {
  const { video, audio, frames } = demuxFlv(readFileSync(AV1_OPUS_FIXTURE));
  assert.ok(video && audio, 'both sequence headers');
  assert.equal(codecsString(video), 'av01.1.04M.08');
  const opusFrames = frames.filter((f) => f.kind === 'audio');
  assert.ok(opusFrames.every((f) => opusPacketDurationSamples(sampleData(audio, f)) === 960));
  const { file, counts } = muxFmp4([video, audio], frames);
  assert.deepEqual(counts, [300, 501]);
  withTempFile('av1-opus.mp4', file, (path) => {
    const [v, a] = probe(path);
    assert.ok(v && a, 'two streams');
    assert.equal(v.codec_name, 'av1');
    assert.equal(Number(v.width), 980);
    assert.equal(Number(v.height), 540);
    assert.equal(Number(v.nb_read_packets), counts[0]);
    assert.equal(a.codec_name, 'opus');
    assert.equal(Number(a.channels), 1);
    assert.equal(Number(a.nb_read_packets), counts[1]);
    assert.equal(decodeErrors(path), '');
  });
});
