import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  av1LevelName,
  av1ProfileName,
  hevcProfileName,
  parseAv1CodecConfig,
  parseHevcDecoderConfig,
  parseOpusHead,
} from './codec-config.ts';
import { CodecError } from './codec-error.ts';

/** First 23 bytes (fixed part) of the hvcC libx265 wrote for 1280x720 Main@3.1 (ffmpeg 5.1, `-tag:v hvc1` mp4). */
const X265_HVCC = Buffer.from('0101600000009000000000005df000fcfdf8f800000f04', 'hex');
/** av1C of the enhanced-RTMP fixture (libaom, 4:4:4 so profile 1, seq_level_idx 4), with its sequence header OBU. */
const FIXTURE_AV1C = Buffer.from('812400000a0e20000024cfa70dbfff3404340080', 'hex');
/** OpusHead of the enhanced-RTMP fixture: mono, pre-skip 312, 48 kHz. */
const FIXTURE_OPUS_HEAD = Buffer.from('4f707573486561640101380180bb0000000000', 'hex');

function assertCodecError(fn: () => unknown, code: string, name: string): void {
  assert.throws(fn, (error: unknown) => error instanceof CodecError && error.code === code, name);
}

/** Checks that `parse` on random bytes (after `prefix`) returns or throws CodecError only. */
function assertOnlyCodecErrors(prefix: Buffer, parse: (buf: Buffer) => unknown): void {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (tail) => {
      try {
        parse(Buffer.concat([prefix, Buffer.from(tail)]));
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
      }
    }),
    { numRuns: 500 },
  );
}

void test('parseHevcDecoderConfig() reads profile, tier and level of a libx265 hvcC', () => {
  assert.equal(X265_HVCC.length, 23);
  assert.deepEqual(parseHevcDecoderConfig(X265_HVCC), {
    profileIdc: 1,
    levelIdc: '3.1',
    tierFlag: 0,
  });
});

void test('parseHevcDecoderConfig() reads High tier and Main 10, and formats levels as level_idc / 30', () => {
  const hvcC = Buffer.from(X265_HVCC);
  hvcC[1] = 0x22; // profile_space 0, tier 1, profile 2
  for (const [idc, level] of [
    [120, '4'],
    [123, '4.1'],
    [150, '5'],
    [186, '6.2'],
    [30, '1'],
  ] as const) {
    hvcC[12] = idc;
    assert.deepEqual(parseHevcDecoderConfig(hvcC), { profileIdc: 2, levelIdc: level, tierFlag: 1 });
  }
});

void test('parseHevcDecoderConfig() rejects short records and configurationVersion other than 1', () => {
  assertCodecError(() => parseHevcDecoderConfig(Buffer.alloc(0)), 'ERR_HEVC_CONFIG', 'empty');
  assertCodecError(
    () => parseHevcDecoderConfig(X265_HVCC.subarray(0, 22)),
    'ERR_HEVC_CONFIG',
    '22 bytes',
  );
  const v0 = Buffer.from(X265_HVCC);
  v0[0] = 0;
  assertCodecError(() => parseHevcDecoderConfig(v0), 'ERR_HEVC_CONFIG', 'version 0');
  assertOnlyCodecErrors(Buffer.alloc(0), parseHevcDecoderConfig);
});

void test('hevcProfileName() names Main, Main 10, Main Still Picture and Rext', () => {
  assert.deepEqual([1, 2, 3, 4, 9].map(hevcProfileName), [
    'Main',
    'Main 10',
    'Main Still Picture',
    'Rext',
    '9',
  ]);
});

void test('parseAv1CodecConfig() reads profile, level, tier and bit depth', () => {
  assert.deepEqual(parseAv1CodecConfig(FIXTURE_AV1C), {
    seqProfile: 1,
    seqLevelIdx: 4,
    tier: 0,
    bitDepth: 8,
  });
  assert.deepEqual(parseAv1CodecConfig(Buffer.from('81088c00', 'hex')), {
    seqProfile: 0,
    seqLevelIdx: 8,
    tier: 1,
    bitDepth: 8,
  });
  assert.equal(parseAv1CodecConfig(Buffer.from('81084000', 'hex')).bitDepth, 10);
  assert.equal(parseAv1CodecConfig(Buffer.from('81486000', 'hex')).bitDepth, 12);
});

void test('parseAv1CodecConfig() rejects a clear marker bit, another version or fewer than 4 bytes', () => {
  assertCodecError(
    () => parseAv1CodecConfig(Buffer.from('01080c00', 'hex')),
    'ERR_AV1_CONFIG',
    'marker 0',
  );
  assertCodecError(
    () => parseAv1CodecConfig(Buffer.from('82080c00', 'hex')),
    'ERR_AV1_CONFIG',
    'version 2',
  );
  assertCodecError(
    () => parseAv1CodecConfig(Buffer.from('81080c', 'hex')),
    'ERR_AV1_CONFIG',
    '3 bytes',
  );
  assertCodecError(() => parseAv1CodecConfig(Buffer.alloc(0)), 'ERR_AV1_CONFIG', 'empty');
  assertOnlyCodecErrors(Buffer.alloc(0), parseAv1CodecConfig);
});

void test('av1ProfileName() and av1LevelName() follow AV1 annex A', () => {
  assert.deepEqual([0, 1, 2, 5].map(av1ProfileName), ['Main', 'High', 'Professional', '5']);
  assert.deepEqual([0, 4, 8, 13, 31].map(av1LevelName), ['2.0', '3.0', '4.0', '5.1', 'max']);
});

void test('parseOpusHead() reads the RFC 7845 OpusHead packet (little-endian)', () => {
  assert.deepEqual(parseOpusHead(FIXTURE_OPUS_HEAD), {
    channels: 1,
    inputSampleRate: 48000,
    preSkip: 312,
  });
});

void test('parseOpusHead() reads the dOps box body (big-endian)', () => {
  const dOps = Buffer.from('0002' + '0138' + '0000ac44' + '0000' + '00', 'hex');
  assert.deepEqual(parseOpusHead(dOps), { channels: 2, inputSampleRate: 44100, preSkip: 312 });
});

void test('parseOpusHead() checks the channel mapping table of mapping family 1', () => {
  const head = Buffer.from(FIXTURE_OPUS_HEAD);
  head[9] = 6; // channels
  head[18] = 1; // mapping family 1
  const table = Buffer.from([4, 2, 0, 4, 1, 2, 3, 5]);
  assert.equal(parseOpusHead(Buffer.concat([head, table])).channels, 6);
  assertCodecError(
    () => parseOpusHead(Buffer.concat([head, table.subarray(0, 7)])),
    'ERR_OPUS_HEAD',
    'table short',
  );
});

void test('parseOpusHead() rejects truncation, 0 channels and unknown major versions', () => {
  assertCodecError(() => parseOpusHead(Buffer.alloc(0)), 'ERR_OPUS_HEAD', 'empty');
  assertCodecError(
    () => parseOpusHead(FIXTURE_OPUS_HEAD.subarray(0, 18)),
    'ERR_OPUS_HEAD',
    'OpusHead 18 bytes',
  );
  assertCodecError(
    () => parseOpusHead(Buffer.from('00020138', 'hex')),
    'ERR_OPUS_HEAD',
    'dOps 4 bytes',
  );
  const zero = Buffer.from(FIXTURE_OPUS_HEAD);
  zero[9] = 0;
  assertCodecError(() => parseOpusHead(zero), 'ERR_OPUS_HEAD', '0 channels');
  const v16 = Buffer.from(FIXTURE_OPUS_HEAD);
  v16[8] = 0x10;
  assertCodecError(() => parseOpusHead(v16), 'ERR_OPUS_HEAD', 'major version 1');
  assertOnlyCodecErrors(Buffer.alloc(0), parseOpusHead);
  assertOnlyCodecErrors(Buffer.from('OpusHead', 'latin1'), parseOpusHead);
});
