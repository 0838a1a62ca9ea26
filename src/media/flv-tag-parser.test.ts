import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlvDecoder, FlvTagType } from '../codecs/flv.ts';
import type { FlvTag } from '../codecs/flv.ts';
import { mp3TrackFromHeader, parseAudioTag, parseVideoTag } from './flv-tag-parser.ts';
import type { TagParse } from './flv-tag-parser.ts';
import { AV1_OPUS_FLV } from '../../test/support/fixtures.ts';

const FIXTURE = AV1_OPUS_FLV;

/** Concatenates byte arrays, latin1 strings (FourCCs) and Buffers. */
function bytes(...parts: (readonly number[] | string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.isBuffer(p) ? p : Buffer.from(p),
    ),
  );
}

/** libx264 320x240 High@1.3 SPS and a PPS, in an AVCDecoderConfigurationRecord. */
const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const AVCC = bytes([1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, SPS.length], SPS, [1, 0, PPS.length], PPS);
const AVCC_NO_SPS = bytes([1, 0x64, 0, 0x0d, 0xff, 0xe0, 1, 0, PPS.length], PPS);
const HVCC = Buffer.from('0101600000009000000000005df000fcfdf8f800000f04', 'hex');
const AV1C = Buffer.from('812400000a0e20000024cfa70dbfff3404340080', 'hex');
const VPCC = Buffer.from('001f80020202000000', 'hex');
const OPUS_HEAD = Buffer.from('4f707573486561640102380180bb0000000000', 'hex');
const ASC = Buffer.from('1210', 'hex');

const ignored = (reason: string): TagParse => ({ type: 'ignored', reason }) as TagParse;
const frame = (keyframe: boolean, ctsMs: number, payloadOffset: number): TagParse => ({
  type: 'frame',
  keyframe,
  ctsMs,
  payloadOffset,
});

/** ModEx prefix (enhanced RTMP v2): size-1, data, then (modExType << 4 | next packet type). */
const modEx = (dataBytes: number, next: number): Buffer =>
  dataBytes <= 256
    ? bytes([dataBytes - 1], Buffer.alloc(dataBytes, 0x11), [next])
    : bytes([0xff, (dataBytes - 1) >> 8, (dataBytes - 1) & 0xff], Buffer.alloc(dataBytes, 0x11), [
        next,
      ]);

const VIDEO_CASES: [string, Buffer, TagParse][] = [
  ['empty', Buffer.alloc(0), ignored('empty')],
  ['legacy AVC 1 byte', bytes([0x17]), ignored('too-short')],
  ['legacy AVC 4 bytes', bytes([0x17, 1, 0, 0]), ignored('too-short')],
  [
    'legacy AVC NALU keyframe, cts +40',
    bytes([0x17, 1, 0, 0, 40], [0, 0, 0, 1, 0x65]),
    frame(true, 40, 5),
  ],
  [
    'legacy AVC NALU inter, cts -40',
    bytes([0x27, 1, 0xff, 0xff, 0xd8, 0x41]),
    frame(false, -40, 5),
  ],
  ['legacy AVC NALU disposable, no payload', bytes([0x37, 1, 0, 0, 0]), frame(false, 0, 5)],
  ['legacy AVC end of sequence', bytes([0x17, 2, 0, 0, 0]), ignored('sequence-end')],
  ['legacy AVC packet type 3', bytes([0x17, 3, 0, 0, 0]), ignored('unsupported-codec')],
  [
    'legacy AVC bad record version',
    bytes([0x17, 0, 0, 0, 0], [0], AVCC.subarray(1)),
    ignored('bad-config'),
  ],
  ['legacy AVC record without SPS', bytes([0x17, 0, 0, 0, 0], AVCC_NO_SPS), ignored('bad-config')],
  ['legacy AVC empty record', bytes([0x17, 0, 0, 0, 0]), ignored('bad-config')],
  [
    'legacy AVC garbage SPS',
    bytes([0x17, 0, 0, 0, 0], [1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, 2, 0x67, 0x64, 0]),
    ignored('bad-config'),
  ],
  ['legacy video info/command frame', bytes([0x57, 0]), ignored('metadata')],
  ['legacy Sorenson H.263', bytes([0x22, 0, 0, 0]), ignored('unsupported-codec')],
  ['legacy VP6', bytes([0x14, 0, 0, 0]), ignored('unsupported-codec')],
  ['legacy codec id 12', bytes([0x1c, 0, 0, 0, 0]), ignored('unsupported-codec')],
  ['enhanced empty AV1 sequence start', bytes([0x90], 'av01'), ignored('bad-config')],
  ['enhanced 4 bytes', bytes([0x90], 'av0'), ignored('too-short')],
  [
    'enhanced avc1 coded frames, cts +40',
    bytes([0x91], 'avc1', [0, 0, 40], [0, 0, 0, 1, 0x65]),
    frame(true, 40, 8),
  ],
  [
    'enhanced hvc1 coded frames, cts -40',
    bytes([0xa1], 'hvc1', [0xff, 0xff, 0xd8]),
    frame(false, -40, 8),
  ],
  ['enhanced hvc1 coded frames without cts', bytes([0x91], 'hvc1', [0, 0]), ignored('too-short')],
  ['enhanced av01 coded frames', bytes([0x91], 'av01', [0x12, 0]), frame(true, 0, 5)],
  ['enhanced vp09 inter frame', bytes([0xa1], 'vp09', [0x86]), frame(false, 0, 5)],
  ['enhanced avc1 CodedFramesX', bytes([0x93], 'avc1', [0, 0, 0, 1, 0x65]), frame(true, 0, 5)],
  [
    'enhanced hvc1 CodedFramesX inter',
    bytes([0xa3], 'hvc1', [0, 0, 0, 1, 0x02]),
    frame(false, 0, 5),
  ],
  ['enhanced sequence end', bytes([0x92], 'av01'), ignored('sequence-end')],
  [
    'enhanced metadata (command frame type)',
    bytes([0xd4], 'av01', [2, 0, 9], 'colorInfo'),
    ignored('metadata'),
  ],
  [
    'enhanced metadata (key frame type)',
    bytes([0x94], 'hvc1', [2, 0, 9], 'colorInfo'),
    ignored('metadata'),
  ],
  ['enhanced command frame', bytes([0xd1], 'av01', [0]), ignored('metadata')],
  ['enhanced MPEG2TSSequenceStart', bytes([0x95], 'av01', [0]), ignored('unsupported-codec')],
  ['enhanced multitrack', bytes([0x96, 0x00], 'av01', [0, 0x12, 0]), ignored('multitrack')],
  ['enhanced reserved packet type 8', bytes([0x98], 'av01'), ignored('unsupported-codec')],
  ['enhanced vp08 key frame', bytes([0x91], 'vp08', [0]), frame(true, 0, 5)],
  ['enhanced unknown FourCC', bytes([0x91], 'vp10', [0]), ignored('unsupported-codec')],
  ['enhanced unknown FourCC', bytes([0x90], 'xxxx', [1, 2, 3]), ignored('unsupported-codec')],
  ['enhanced bad hvcC', bytes([0x90], 'hvc1', HVCC.subarray(0, 10)), ignored('bad-config')],
  [
    'ModEx then avc1 coded frames',
    bytes([0x97], modEx(3, 0x01), 'avc1', [0, 0, 40], [0x65]),
    frame(true, 40, 13),
  ],
  [
    'two ModEx then av01 CodedFramesX',
    bytes([0xa7], modEx(1, 0x07), modEx(2, 0x03), 'av01'),
    frame(false, 0, 12),
  ],
  ['ModEx then metadata', bytes([0xd7], modEx(3, 0x04), 'av01', [2]), ignored('metadata')],
  ['ModEx truncated size', bytes([0x97]), ignored('too-short')],
  ['ModEx truncated data', bytes([0x97, 9, 0, 0]), ignored('too-short')],
  ['ModEx truncated 16-bit size', bytes([0x97, 0xff, 1]), ignored('too-short')],
  [
    'ModEx chain of 9',
    bytes([0x97], ...Array.from({ length: 9 }, () => modEx(1, 0x07)), 'av01'),
    ignored('unsupported-codec'),
  ],
];

const AUDIO_CASES: [string, Buffer, TagParse][] = [
  ['empty', Buffer.alloc(0), ignored('empty')],
  ['legacy AAC 1 byte', bytes([0xaf]), ignored('too-short')],
  ['legacy AAC raw frame', bytes([0xaf, 1, 0x21, 0x10]), frame(false, 0, 2)],
  ['legacy AAC raw frame, no payload', bytes([0xaf, 1]), frame(false, 0, 2)],
  ['legacy AAC empty config', bytes([0xaf, 0]), ignored('bad-config')],
  ['legacy AAC reserved frequency index', bytes([0xaf, 0, 0x16, 0x90]), ignored('bad-config')],
  ['legacy AAC packet type 2', bytes([0xaf, 2, 0]), ignored('unsupported-codec')],
  ['legacy MP3', bytes([0x2f, 0xff, 0xfb, 0x90]), frame(false, 0, 1)],
  ['legacy MP3 8 kHz', bytes([0xe2, 0xff, 0xf3]), frame(false, 0, 1)],
  ['legacy PCM', bytes([0x3f, 0, 0]), ignored('unsupported-codec')],
  ['legacy Speex', bytes([0xb2, 0]), ignored('unsupported-codec')],
  ['legacy Nellymoser', bytes([0x6e, 0]), ignored('unsupported-codec')],
  ['enhanced Opus frame', bytes([0x91], 'Opus', [0xf8, 0xff]), frame(false, 0, 5)],
  [
    'enhanced Opus bad head',
    bytes([0x90], 'Opus', OPUS_HEAD.subarray(0, 12)),
    ignored('bad-config'),
  ],
  ['enhanced mp4a frame', bytes([0x91], 'mp4a', [0x21]), frame(false, 0, 5)],
  ['enhanced mp4a bad config', bytes([0x90], 'mp4a', [0x16, 0x90]), ignored('bad-config')],
  ['enhanced sequence end', bytes([0x92], 'Opus'), ignored('sequence-end')],
  ['enhanced multichannel config', bytes([0x94], 'Opus', [1, 2, 0, 0, 0, 3]), ignored('metadata')],
  ['enhanced multitrack', bytes([0x95, 0x00], 'Opus', [0]), ignored('multitrack')],
  ['enhanced reserved packet type 3', bytes([0x93], 'Opus'), ignored('unsupported-codec')],
  ['enhanced fLaC', bytes([0x91], 'fLaC', [0]), ignored('unsupported-codec')],
  ['enhanced .mp3', bytes([0x91], '.mp3', [0]), ignored('unsupported-codec')],
  ['enhanced ac-3', bytes([0x90], 'ac-3'), ignored('unsupported-codec')],
  ['enhanced ec-3', bytes([0x91], 'ec-3', [0]), ignored('unsupported-codec')],
  ['enhanced 4 bytes', bytes([0x90], 'Opu'), ignored('too-short')],
  ['ModEx then Opus frame', bytes([0x97], modEx(3, 0x01), 'Opus', [0xf8]), frame(false, 0, 10)],
  [
    'ModEx with 16-bit size then Opus frame',
    bytes([0x97], modEx(300, 0x01), 'Opus'),
    frame(false, 0, 1 + 3 + 300 + 1 + 4),
  ],
  ['ModEx truncated', bytes([0x97, 5, 0]), ignored('too-short')],
];

void test('parseVideoTag() answers every legacy and enhanced branch', () => {
  for (const [name, body, expected] of VIDEO_CASES)
    assert.deepEqual(parseVideoTag(body), expected, name);
});

void test('parseAudioTag() answers every legacy and enhanced branch', () => {
  for (const [name, body, expected] of AUDIO_CASES)
    assert.deepEqual(parseAudioTag(body), expected, name);
});

/** The track of a sequence header, or a failed assertion. */
function trackOf(result: TagParse): Extract<TagParse, { type: 'sequence-header' }>['track'] {
  if (result.type !== 'sequence-header')
    assert.fail(`expected a sequence header: ${JSON.stringify(result)}`);
  return result.track;
}

/** Asserts `config` is the subarray of `body` starting at `offset` (shared, not copied). */
function assertSubarray(config: Buffer, body: Buffer, offset: number): void {
  assert.equal(config.buffer, body.buffer);
  assert.equal(config.byteOffset, body.byteOffset + offset);
  assert.equal(config.length, body.length - offset);
}

void test('parseVideoTag() makes an H.264 track from a legacy AVC sequence header', () => {
  const body = bytes([0x17, 0, 0, 0, 0], AVCC);
  const track = trackOf(parseVideoTag(body));
  assert.deepEqual(
    { ...track, config: undefined },
    {
      kind: 'video',
      codec: 'h264',
      config: undefined,
      profile: 'High',
      level: '1.3',
      width: 320,
      height: 240,
    },
  );
  assertSubarray(track.config, body, 5);
});

void test('parseVideoTag() makes tracks from enhanced avc1, hvc1, av01, vp09 and vp08 sequence starts', () => {
  const cases = [
    ['avc1', AVCC, { codec: 'h264', profile: 'High', level: '1.3', width: 320, height: 240 }],
    ['hvc1', HVCC, { codec: 'hevc', profile: 'Main', level: '3.1' }],
    ['av01', AV1C, { codec: 'av1', profile: 'High', level: '3.0' }],
    ['vp09', VPCC, { codec: 'vp9' }],
    ['vp08', VPCC, { codec: 'vp8' }],
  ] as const;
  for (const [fourCc, config, expected] of cases) {
    const body = bytes([0x90], fourCc, config);
    const track = trackOf(parseVideoTag(body));
    assert.deepEqual(
      { ...track, config: undefined },
      { kind: 'video', config: undefined, ...expected },
      fourCc,
    );
    assertSubarray(track.config, body, 5);
  }
});

void test('parseVideoTag() finds the FourCC and config after ModEx prefixes, 16-bit sizes included', () => {
  const body = bytes([0x97], modEx(257, 0x00), 'av01', AV1C);
  const track = trackOf(parseVideoTag(body));
  assert.equal(track.codec, 'av1');
  assertSubarray(track.config, body, 1 + 3 + 257 + 1 + 4);
});

void test('parseAudioTag() makes AAC tracks from legacy and enhanced (mp4a) sequence headers', () => {
  const legacy = bytes([0xaf, 0], ASC);
  const track = trackOf(parseAudioTag(legacy));
  assert.deepEqual(
    { ...track, config: undefined },
    {
      kind: 'audio',
      codec: 'aac',
      config: undefined,
      sampleRate: 44100,
      channels: 2,
      profile: 'LC',
    },
  );
  assertSubarray(track.config, legacy, 2);
  const enhanced = bytes([0x90], 'mp4a', ASC);
  const exTrack = trackOf(parseAudioTag(enhanced));
  assert.equal(exTrack.codec, 'aac');
  assertSubarray(exTrack.config, enhanced, 5);
});

void test('parseAudioTag() makes an Opus track at 48 kHz from an enhanced OpusHead', () => {
  const body = bytes([0x90], 'Opus', OPUS_HEAD);
  const track = trackOf(parseAudioTag(body));
  assert.deepEqual(
    { ...track, config: undefined },
    {
      kind: 'audio',
      codec: 'opus',
      config: undefined,
      sampleRate: 48000,
      channels: 2,
    },
  );
  assertSubarray(track.config, body, 5);
});

void test('mp3TrackFromHeader() reads SoundRate and SoundType from the legacy header byte', () => {
  const summary = (byte0: number): [string, number | undefined, number | undefined, number] => {
    const t = mp3TrackFromHeader(byte0);
    return [t.codec, t.sampleRate, t.channels, t.config.length];
  };
  assert.deepEqual(summary(0x2f), ['mp3', 44100, 2, 0]);
  assert.deepEqual(summary(0x2a), ['mp3', 22050, 1, 0]);
  assert.deepEqual(summary(0x27), ['mp3', 11025, 2, 0]);
  assert.deepEqual(summary(0x22), ['mp3', 5512, 1, 0]);
  assert.deepEqual(summary(0xe2), ['mp3', 8000, 1, 0]);
});

const PREFIXES = [
  [0x17, 0],
  [0x17, 1],
  [0x90, ...Buffer.from('av01')],
  [0x90, ...Buffer.from('avc1')],
  [0x90, ...Buffer.from('hvc1')],
  [0x91, ...Buffer.from('hvc1')],
  [0x97],
  [0xaf, 0],
  [0x90, ...Buffer.from('Opus')],
  [0x90, ...Buffer.from('mp4a')],
];

void test('parseVideoTag() and parseAudioTag() never throw on random bytes', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.constant<number[]>([]), fc.constantFrom(...PREFIXES)),
      fc.uint8Array({ maxLength: 64 }),
      (prefix, tail) => {
        const body = bytes(prefix, Buffer.from(tail));
        for (const result of [parseVideoTag(body), parseAudioTag(body)]) {
          assert.ok(['sequence-header', 'frame', 'ignored'].includes(result.type));
          if (result.type === 'frame') assert.ok(result.payloadOffset <= body.length);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

/** Parses every audio/video tag of an FLV file. */
function parseFile(flv: Buffer): { tag: FlvTag; result: TagParse }[] {
  return new FlvDecoder()
    .push(flv)
    .filter((tag) => tag.type === FlvTagType.Audio || tag.type === FlvTagType.Video)
    .map((tag) => ({
      tag,
      result: tag.type === FlvTagType.Video ? parseVideoTag(tag.body) : parseAudioTag(tag.body),
    }));
}

void test('parseVideoTag()/parseAudioTag() read the enhanced-RTMP AV1 + Opus fixture', () => {
  const parsed = parseFile(readFileSync(FIXTURE));
  const tracks = parsed.flatMap(({ result }) =>
    result.type === 'sequence-header' ? [result.track] : [],
  );
  const video = tracks.find((t) => t.kind === 'video');
  const audio = tracks.find((t) => t.kind === 'audio');
  assert.equal(video?.codec, 'av1');
  assert.equal(audio?.codec, 'opus');
  assert.ok((audio.channels ?? 0) > 0);
  assert.equal(audio.sampleRate, 48000);
  const videoFrames = parsed.filter(
    ({ tag, result }) => tag.type === FlvTagType.Video && result.type === 'frame',
  );
  assert.ok(videoFrames.some(({ result }) => result.type === 'frame' && result.keyframe));
  assert.ok(videoFrames.length > 100);
  assert.ok(
    parsed.some(({ tag, result }) => tag.type === FlvTagType.Audio && result.type === 'frame'),
  );
  assert.ok(parsed.some(({ result }) => result.type === 'ignored' && result.reason === 'metadata'));
  // The file opens with an empty AV1 sequence start, which must not replace a track.
  assert.deepEqual(parsed[0]?.result, { type: 'ignored', reason: 'bad-config' });
});

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;

/** Runs ffmpeg with lavfi sources and returns its FLV output. */
function ffmpegFlv(args: string[]): Buffer {
  return execFileSync('ffmpeg', ['-loglevel', 'error', ...args, '-f', 'flv', 'pipe:1'], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

void test(
  'parseVideoTag()/parseAudioTag() read an ffmpeg H.264 High + AAC LC FLV',
  { skip: !hasFfmpeg && 'no ffmpeg' },
  () => {
    const flv = ffmpegFlv([
      ...[
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=25',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440',
      ],
      ...['-t', '1', '-c:v', 'libx264', '-profile:v', 'high', '-g', '25', '-c:a', 'aac'],
    ]);
    const parsed = parseFile(flv);
    const tracks = parsed.flatMap(({ result }) =>
      result.type === 'sequence-header' ? [result.track] : [],
    );
    const video = tracks.find((t) => t.kind === 'video');
    const audio = tracks.find((t) => t.kind === 'audio');
    assert.deepEqual(
      [video?.codec, video?.width, video?.height, video?.profile],
      ['h264', 320, 240, 'High'],
    );
    assert.deepEqual([audio?.codec, audio?.profile, audio?.channels], ['aac', 'LC', 1]);
    assert.ok(audio?.sampleRate === 44100 || audio?.sampleRate === 48000);
    const keyframes = parsed.filter(({ result }) => result.type === 'frame' && result.keyframe);
    assert.ok(keyframes.length >= 1);
    assert.ok(
      parsed.every(
        ({ tag, result }) =>
          tag.type !== FlvTagType.Audio || result.type !== 'frame' || !result.keyframe,
      ),
    );
  },
);

void test(
  'parseVideoTag() reads 1920x1080 (a cropped SPS) from an ffmpeg H.264 FLV',
  { skip: !hasFfmpeg && 'no ffmpeg' },
  () => {
    const flv = ffmpegFlv([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=1920x1080:rate=25',
      '-frames:v',
      '1',
      '-c:v',
      'libx264',
    ]);
    const track = parseFile(flv)
      .flatMap(({ result }) => (result.type === 'sequence-header' ? [result.track] : []))
      .find((t) => t.kind === 'video');
    assert.deepEqual([track?.codec, track?.width, track?.height], ['h264', 1920, 1080]);
  },
);
