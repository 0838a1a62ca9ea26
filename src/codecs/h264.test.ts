import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from './codec-error.ts';
import {
  buildAvcDecoderConfig,
  h264LevelName,
  h264ProfileName,
  parseAvcDecoderConfig,
  parseSps,
} from './h264.ts';

/** MSB-first bit writer with Exp-Golomb codes, to build SPS RBSPs by hand. */
class BitWriter {
  readonly bitsOut: number[] = [];
  bits(n: number, value: number): this {
    for (let i = n - 1; i >= 0; i--) this.bitsOut.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }
  ue(value: number): this {
    const code = value + 1;
    const length = Math.floor(Math.log2(code));
    return this.bits(length, 0).bits(length + 1, code);
  }
  se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }
  /** rbsp_trailing_bits, then the bytes. */
  bytes(): Buffer {
    this.bitsOut.push(1);
    while (this.bitsOut.length % 8 !== 0) this.bitsOut.push(0);
    const out = Buffer.alloc(this.bitsOut.length / 8);
    this.bitsOut.forEach((bit, i) => {
      out[i >>> 3] = (out[i >>> 3] ?? 0) | (bit << (7 - (i & 7)));
    });
    return out;
  }
}

/** Inserts emulation-prevention bytes (H.264 7.4.1): 00 00 0x (x <= 3) -> 00 00 03 0x. */
function escapeRbsp(rbsp: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

function assertCodecError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof CodecError && error.code === code);
}

/** SPS NAL units written by ffmpeg 5.1 / libx264 (`-f lavfi -i testsrc2=size=WxH -frames:v 1 -c:v libx264 ...`). */
const REAL_SPS = [
  {
    hex: '6764000dacd94141fb011000000300100000030320f1429960',
    w: 320,
    h: 240,
    profile: 100,
    level: 13,
    chroma: 1,
  },
  {
    hex: '67640028acd940780227e5c044000003000400000300c83c60c658',
    w: 1920,
    h: 1080,
    profile: 100,
    level: 40,
    chroma: 1,
  },
  {
    hex: '6764001facd9405005bb011000000300100000030320f1831960',
    w: 1280,
    h: 720,
    profile: 100,
    level: 31,
    chroma: 1,
  },
  {
    hex: '67f4001e919b281b07bc5f80880000030008000003019078b16cb0',
    w: 854,
    h: 480,
    profile: 244,
    level: 30,
    chroma: 3,
  },
  {
    hex: '6764001eacd940b424d8088000000300800000190f8a14cb',
    w: 720,
    h: 576,
    profile: 100,
    level: 30,
    chroma: 1,
  },
  {
    hex: '6764001eacd940a02ff97011000003000100000300320f162d96',
    w: 640,
    h: 360,
    profile: 100,
    level: 30,
    chroma: 1,
  },
  {
    hex: '677a0020b6cd94056061e6f011000003000100000300320f183196',
    w: 1366,
    h: 768,
    profile: 122,
    level: 32,
    chroma: 2,
  },
  {
    hex: '6742c00bd902c4ec0440000003004000000c83c50a92',
    w: 176,
    h: 144,
    profile: 66,
    level: 11,
    chroma: 1,
  },
];

void test('parseSps() reads profile, level, chroma format and cropped size of real libx264 SPS', () => {
  // 1920x1080 (crop bottom 8), 640x360 (crop bottom 8), 854x480 4:4:4 (crop right 10),
  // 720x576 interlaced (frame_mbs_only 0), 1366x768 4:2:2 (crop right 10).
  for (const c of REAL_SPS) {
    const sps = parseSps(Buffer.from(c.hex, 'hex'));
    assert.deepEqual(
      sps,
      {
        profileIdc: c.profile,
        levelIdc: c.level,
        width: c.w,
        height: c.h,
        chromaFormatIdc: c.chroma,
      },
      `${c.w}x${c.h}`,
    );
  }
});

/** A High-profile SPS with scaling lists, pic_order_cnt_type 1 and cropping, built bit by bit. */
function handBuiltSps(): Buffer {
  const w = new BitWriter().bits(8, 100).bits(8, 0).bits(8, 0); // profile, constraints 0, level 0
  w.ue(0).ue(1).ue(0).ue(0).bits(1, 0); // sps_id, chroma 4:2:0, bit depths, bypass
  w.bits(1, 1); // seq_scaling_matrix_present_flag
  for (let i = 0; i < 8; i++) {
    w.bits(1, i % 2); // lists 1, 3, 5, 7 present
    if (i % 2 === 1) {
      const size = i < 6 ? 16 : 64;
      w.se(5); // nextScale 13, then stay constant
      for (let j = 1; j < size; j++) w.se(0);
    }
  }
  w.ue(0).ue(1); // log2_max_frame_num_minus4, pic_order_cnt_type 1
  w.bits(1, 0)
    .se(1 << 20)
    .se(-32)
    .ue(2)
    .se(7)
    .se(-1 << 19); // long zero runs need emulation prevention
  w.ue(4).bits(1, 0); // max_num_ref_frames, gaps
  w.ue(99).ue(44).bits(1, 1).bits(1, 1); // 1600x720 in macroblocks, frame_mbs_only, direct_8x8
  w.bits(1, 1).ue(2).ue(3).ue(0).ue(4); // crop left 2, right 3, top 0, bottom 4 (units of 2)
  w.bits(1, 0); // vui_parameters_present_flag
  return Buffer.concat([Buffer.from([0x67]), w.bytes()]);
}

void test('parseSps() handles scaling lists, pic_order_cnt_type 1, cropping and emulation prevention', () => {
  const raw = handBuiltSps();
  const nal = escapeRbsp(raw);
  assert.ok(nal.length > raw.length, 'the test SPS must contain emulation-prevention bytes');
  assert.deepEqual(parseSps(nal), {
    profileIdc: 100,
    levelIdc: 0,
    width: 1600 - (2 + 3) * 2,
    height: 720 - 4 * 2,
    chromaFormatIdc: 1,
  });
});

void test('parseSps() rejects a NAL that is not an SPS, or too short', () => {
  assertCodecError(() => parseSps(Buffer.from('68ebe3cb22c0', 'hex')), 'ERR_H264_SPS');
  assertCodecError(() => parseSps(Buffer.from('6764', 'hex')), 'ERR_H264_SPS');
  assertCodecError(() => parseSps(Buffer.alloc(0)), 'ERR_H264_SPS');
});

void test('parseSps() rejects every truncation of a real SPS before its cropping fields', () => {
  const full = Buffer.from(REAL_SPS[1]!.hex, 'hex');
  for (let length = 0; length < 9; length++) {
    assertCodecError(() => parseSps(full.subarray(0, length)), 'ERR_H264_SPS');
  }
});

void test('parseSps() rejects Exp-Golomb codes longer than 32 bits', () => {
  assertCodecError(
    () => parseSps(Buffer.from('6742c00b000000000000000000', 'hex')),
    'ERR_H264_SPS',
  );
});

void test('parseSps() rejects pictures wider than 8192 pixels or cropped to nothing', () => {
  const huge = new BitWriter()
    .bits(8, 66)
    .bits(8, 0)
    .bits(8, 30)
    .ue(0)
    .ue(0)
    .ue(0)
    .ue(0)
    .ue(1)
    .bits(1, 0);
  huge.ue(600).ue(10).bits(1, 1).bits(1, 1).bits(1, 0);
  assertCodecError(
    () => parseSps(Buffer.concat([Buffer.from([0x67]), huge.bytes()])),
    'ERR_H264_SPS',
  );
  const cropped = new BitWriter()
    .bits(8, 66)
    .bits(8, 0)
    .bits(8, 30)
    .ue(0)
    .ue(0)
    .ue(0)
    .ue(0)
    .ue(1)
    .bits(1, 0);
  cropped.ue(0).ue(0).bits(1, 1).bits(1, 1).bits(1, 1).ue(4).ue(4).ue(0).ue(0);
  assertCodecError(
    () => parseSps(Buffer.concat([Buffer.from([0x67]), cropped.bytes()])),
    'ERR_H264_SPS',
  );
});

void test('parseSps() on random bytes only throws CodecError', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(66, 77, 100, 244),
      fc.uint8Array({ maxLength: 64 }),
      (profile, tail) => {
        try {
          parseSps(Buffer.concat([Buffer.from([0x67, profile]), Buffer.from(tail)]));
        } catch (error) {
          assert.ok(error instanceof CodecError, String(error));
        }
      },
    ),
    { numRuns: 2000 },
  );
});

const SPS_320 = Buffer.from(REAL_SPS[0]!.hex, 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');

/** An AVCDecoderConfigurationRecord with the given SPS/PPS lists. */
function avcC(sps: Buffer[], pps: Buffer[], lengthSizeMinusOne = 3): Buffer {
  const sets = (list: Buffer[]): Buffer[] =>
    list.flatMap((b) => [Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  return Buffer.concat([
    Buffer.from([1, 0x64, 0x00, 0x0d, 0xfc | lengthSizeMinusOne, 0xe0 | sps.length]),
    ...sets(sps),
    Buffer.from([pps.length]),
    ...sets(pps),
  ]);
}

void test('parseAvcDecoderConfig() returns profile, level, length size and SPS/PPS subarrays', () => {
  const record = avcC([SPS_320], [PPS]);
  const config = parseAvcDecoderConfig(record);
  assert.equal(config.profileIdc, 100);
  assert.equal(config.profileCompat, 0);
  assert.equal(config.levelIdc, 13);
  assert.equal(config.lengthSize, 4);
  assert.deepEqual(config.sps, [SPS_320]);
  assert.deepEqual(config.pps, [PPS]);
  assert.equal(config.sps[0]!.buffer, record.buffer);
});

void test('parseAvcDecoderConfig() accepts every lengthSizeMinusOne, 3-byte lengths included', () => {
  for (const [minusOne, size] of [
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 4],
  ] as const) {
    assert.equal(parseAvcDecoderConfig(avcC([SPS_320], [PPS], minusOne)).lengthSize, size);
  }
});

void test('parseAvcDecoderConfig() reads several SPS and PPS and tolerates High-profile trailer bytes', () => {
  const record = Buffer.concat([
    avcC([SPS_320, SPS_320], [PPS, PPS]),
    Buffer.from('fdf8f800', 'hex'),
  ]);
  const config = parseAvcDecoderConfig(record);
  assert.equal(config.sps.length, 2);
  assert.equal(config.pps.length, 2);
});

void test('parseAvcDecoderConfig() rejects malformed records with ERR_H264_CONFIG', () => {
  const good = avcC([SPS_320], [PPS]);
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['header only', good.subarray(0, 6)],
    ['configurationVersion 0', Buffer.concat([Buffer.from([0]), good.subarray(1)])],
    ['numOfSPS 31 with no bytes', Buffer.from([1, 0x64, 0, 0x0d, 0xff, 0xff])],
    ['SPS length past the end', good.subarray(0, 10)],
    ['0-length SPS', Buffer.from([1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, 0, 1, 0, 1, 0x68])],
    ['0-length PPS', avcC([SPS_320], [Buffer.alloc(0)])],
    ['no numOfPPS', good.subarray(0, 6 + 2 + SPS_320.length)],
    ['PPS truncated', good.subarray(0, good.length - 1)],
  ];
  for (const [name, record] of cases) {
    assert.throws(
      () => parseAvcDecoderConfig(record),
      (error: unknown) => error instanceof CodecError && error.code === 'ERR_H264_CONFIG',
      name,
    );
  }
});

void test('parseAvcDecoderConfig() on random bytes only throws CodecError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (tail) => {
      try {
        parseAvcDecoderConfig(Buffer.concat([Buffer.from([1, 0x64, 0, 0x1f]), Buffer.from(tail)]));
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
      }
    }),
    { numRuns: 2000 },
  );
});

void test('h264ProfileName() names the common profiles and falls back to the number', () => {
  assert.equal(h264ProfileName(66), 'Baseline');
  assert.equal(h264ProfileName(77), 'Main');
  assert.equal(h264ProfileName(88), 'Extended');
  assert.equal(h264ProfileName(100), 'High');
  assert.equal(h264ProfileName(110), 'High 10');
  assert.equal(h264ProfileName(122), 'High 4:2:2');
  assert.equal(h264ProfileName(244), 'High 4:4:4');
  assert.equal(h264ProfileName(118), '118');
});

void test('h264LevelName() turns level_idc into a dotted level', () => {
  assert.equal(h264LevelName(31), '3.1');
  assert.equal(h264LevelName(40), '4');
  assert.equal(h264LevelName(13), '1.3');
  assert.equal(h264LevelName(9), '1b');
});

void test('buildAvcDecoderConfig() makes a record parseAvcDecoderConfig() reads back', () => {
  const pps = Buffer.from('68ebe3cb22c0', 'hex');
  for (const sps of REAL_SPS.map((c) => Buffer.from(c.hex, 'hex'))) {
    const record = parseAvcDecoderConfig(buildAvcDecoderConfig(sps, [pps]));
    assert.equal(record.profileIdc, sps[1]);
    assert.equal(record.levelIdc, sps[3]);
    assert.equal(record.lengthSize, 4);
    assert.deepEqual(record.sps, [sps]);
    assert.deepEqual(record.pps, [pps]);
  }
  assertCodecError(() => buildAvcDecoderConfig(pps, [pps]), 'ERR_H264_SPS');
});
