import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { aacObjectTypeName, parseAudioSpecificConfig } from './aac.ts';
import { CodecError } from './codec-error.ts';

/** Packs [bitCount, value] fields MSB-first into bytes (zero-padded). */
function pack(fields: readonly (readonly [number, number])[]): Buffer {
  const bits: number[] = [];
  for (const [n, value] of fields) {
    for (let i = n - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) % 2);
  }
  while (bits.length % 8 !== 0) bits.push(0);
  const out = Buffer.alloc(bits.length / 8);
  bits.forEach((bit, i) => {
    out[i >>> 3] = (out[i >>> 3] ?? 0) | (bit << (7 - (i & 7)));
  });
  return out;
}

const VALID: {
  name: string;
  config: Buffer;
  expected: ReturnType<typeof parseAudioSpecificConfig>;
}[] = [
  {
    name: 'LC 44.1 kHz stereo (ffmpeg)',
    config: Buffer.from('1210', 'hex'),
    expected: { objectType: 2, sampleRate: 44100, channels: 2, frequencyIndex: 4 },
  },
  {
    name: 'LC 48 kHz mono',
    config: Buffer.from('1188', 'hex'),
    expected: { objectType: 2, sampleRate: 48000, channels: 1, frequencyIndex: 3 },
  },
  {
    name: 'HE-AAC (SBR) 24 kHz stereo with extension fields',
    config: pack([
      [5, 5],
      [4, 6],
      [4, 2],
      [4, 3],
      [5, 2],
    ]),
    expected: { objectType: 5, sampleRate: 24000, channels: 2, frequencyIndex: 6 },
  },
  {
    name: 'object type escape 31 -> 32 + 10 (USAC 42)',
    config: pack([
      [5, 31],
      [6, 10],
      [4, 3],
      [4, 2],
    ]),
    expected: { objectType: 42, sampleRate: 48000, channels: 2, frequencyIndex: 3 },
  },
  {
    name: 'explicit 24-bit rate (index 15)',
    config: pack([
      [5, 2],
      [4, 15],
      [24, 37800],
      [4, 1],
    ]),
    expected: { objectType: 2, sampleRate: 37800, channels: 1, frequencyIndex: 15 },
  },
  {
    name: 'channelConfiguration 0 (program_config_element)',
    config: pack([
      [5, 2],
      [4, 4],
      [4, 0],
    ]),
    expected: { objectType: 2, sampleRate: 44100, channels: 0, frequencyIndex: 4 },
  },
  {
    name: 'channelConfiguration 7 (7.1)',
    config: pack([
      [5, 2],
      [4, 3],
      [4, 7],
    ]),
    expected: { objectType: 2, sampleRate: 48000, channels: 8, frequencyIndex: 3 },
  },
  {
    name: '7350 Hz (index 12)',
    config: pack([
      [5, 1],
      [4, 12],
      [4, 1],
    ]),
    expected: { objectType: 1, sampleRate: 7350, channels: 1, frequencyIndex: 12 },
  },
];

void test('parseAudioSpecificConfig() reads object type, rate and channels, escapes included', () => {
  for (const c of VALID) assert.deepEqual(parseAudioSpecificConfig(c.config), c.expected, c.name);
});

void test('parseAudioSpecificConfig() rejects reserved values and truncation with ERR_AAC_CONFIG', () => {
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from([0x12])],
    [
      'frequency index 13',
      pack([
        [5, 2],
        [4, 13],
        [4, 2],
      ]),
    ],
    [
      'frequency index 14',
      pack([
        [5, 2],
        [4, 14],
        [4, 2],
      ]),
    ],
    [
      'explicit rate truncated',
      pack([
        [5, 2],
        [4, 15],
        [8, 0xbb],
      ]),
    ],
    [
      'explicit rate 0',
      pack([
        [5, 2],
        [4, 15],
        [24, 0],
        [4, 2],
      ]),
    ],
    ['object type escape truncated', Buffer.from([0xf8])],
    [
      'object type 0',
      pack([
        [5, 0],
        [4, 4],
        [4, 2],
      ]),
    ],
    [
      'channelConfiguration 8',
      pack([
        [5, 2],
        [4, 4],
        [4, 8],
      ]),
    ],
    [
      'channelConfiguration 15',
      pack([
        [5, 2],
        [4, 4],
        [4, 15],
      ]),
    ],
  ];
  for (const [name, config] of cases) {
    assert.throws(
      () => parseAudioSpecificConfig(config),
      (error: unknown) => error instanceof CodecError && error.code === 'ERR_AAC_CONFIG',
      name,
    );
  }
});

void test('parseAudioSpecificConfig() on random bytes only throws CodecError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), (bytes) => {
      try {
        const asc = parseAudioSpecificConfig(Buffer.from(bytes));
        assert.ok(asc.sampleRate > 0);
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
      }
    }),
    { numRuns: 2000 },
  );
});

void test('aacObjectTypeName() names Main, LC, HE-AAC and HE-AACv2, else the number', () => {
  assert.equal(aacObjectTypeName(1), 'Main');
  assert.equal(aacObjectTypeName(2), 'LC');
  assert.equal(aacObjectTypeName(5), 'HE-AAC (SBR)');
  assert.equal(aacObjectTypeName(29), 'HE-AACv2');
  assert.equal(aacObjectTypeName(42), '42');
});
