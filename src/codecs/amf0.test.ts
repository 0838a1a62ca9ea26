// Tests for the AMF0 codec: spec byte vectors, round-trip and fuzz properties, hostile inputs.
// Spec: Adobe "Action Message Format -- AMF 0" (2006), section 2; rows from HOSTILE-INPUTS.md 3.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from './codec-error.ts';
import type { CodecErrorCode } from './codec-error.ts';
import { AMF0_DEFAULT_MAX_ITEMS, decodeAmf0, encodeAmf0 } from './amf0.ts';
import type { Amf0Object, Amf0Value } from './amf0.ts';
import { RTMP_FUZZ_SEEDS } from '../../test/support/fixtures.ts';

/** Bytes from hex written by hand; whitespace is ignored so fields can be laid out. */
function hex(...parts: string[]): Buffer {
  return Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
}

/** Asserts that `fn` throws a CodecError with `code` (and `offset` when given). */
function assertCodecError(fn: () => unknown, code: CodecErrorCode, offset?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (offset !== undefined) assert.equal(err.offset, offset, err.message);
    return true;
  });
}

/** Decodes, accepting only success or a CodecError (the fuzz contract). */
function decodeOrCodecError(buf: Buffer): void {
  try {
    decodeAmf0(buf);
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
  }
}

interface Amf0Case {
  readonly name: string;
  readonly values: Amf0Value[];
  /** Exact wire bytes; omitted where only the round trip is checked. */
  readonly bytes?: Buffer;
  /** The bytes are only decoded (a form encodeAmf0 never produces, e.g. ECMA arrays). */
  readonly decodeOnly?: boolean;
}

const longText = 'x'.repeat(70_000);

const cases: readonly Amf0Case[] = [
  {
    name: 'number 1.0 (spec 2.2: marker + IEEE-754 double, big-endian)',
    values: [1],
    bytes: hex('00 3ff0000000000000'),
  },
  {
    name: 'ffmpeg connect command (publish)',
    values: [
      'connect',
      1,
      {
        app: 'live',
        type: 'nonprivate',
        flashVer: 'FMLE/3.0 (compatible; Lavf61.7.100)',
        tcUrl: 'rtmp://127.0.0.1:1935/live',
      },
    ],
    bytes: hex(
      '02 0007 636f6e6e656374', // "connect"
      '00 3ff0000000000000', // transaction id 1
      '03', // object
      '0003 617070 02 0004 6c697665', // app: "live"
      '0004 74797065 02 000a 6e6f6e70726976617465', // type: "nonprivate"
      '0008 666c617368566572 02 0023',
      '464d4c452f332e302028636f6d70617469626c653b204c61766636312e372e31303029', // flashVer
      '0005 746355726c 02 001a 72746d703a2f2f3132372e302e302e313a313933352f6c697665', // tcUrl
      '0000 09', // UTF-8-empty + object-end
    ),
  },
  {
    name: '_result reply with properties and information objects',
    values: [
      '_result',
      1,
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      {
        level: 'status',
        code: 'NetConnection.Connect.Success',
        description: 'Connection succeeded.',
        objectEncoding: 0,
      },
    ],
    bytes: hex(
      '02 0007 5f726573756c74 00 3ff0000000000000',
      '03 0006 666d73566572 02 000d 464d532f332c302c312c313233',
      '000c 6361706162696c6974696573 00 403f000000000000 0000 09',
      '03 0005 6c6576656c 02 0006 737461747573',
      '0004 636f6465 02 001d 4e6574436f6e6e656374696f6e2e436f6e6e6563742e53756363657373',
      '000b 6465736372697074696f6e 02 0015 436f6e6e656374696f6e207375636365656465642e',
      '000e 6f626a656374456e636f64696e67 00 0000000000000000 0000 09',
    ),
  },
  {
    name: 'onMetaData ECMA array (spec 2.10) decodes as a plain object',
    values: [
      '@setDataFrame',
      'onMetaData',
      { duration: 0, width: 1280, height: 720, videocodecid: 7, encoder: 'Lavf61.7.100' },
    ],
    bytes: hex(
      '02 000d 40736574446174614672616d65 02 000a 6f6e4d65746144617461',
      '08 00000005', // ECMA array, associative-count 5
      '0008 6475726174696f6e 00 0000000000000000',
      '0005 7769647468 00 4094000000000000',
      '0006 686569676874 00 4086800000000000',
      '000c 766964656f636f6465636964 00 401c000000000000',
      '0007 656e636f646572 02 000c 4c61766636312e372e313030',
      '0000 09',
    ),
    decodeOnly: true,
  },
  {
    name: 'ECMA array ended by the end of the buffer without 00 00 09 (lenient)',
    values: ['onMetaData', { width: 1280 }],
    bytes: hex('02 000a 6f6e4d65746144617461 08 00000001 0005 7769647468 00 4094000000000000'),
    decodeOnly: true,
  },
  {
    name: 'ECMA array whose advisory count (0xFFFFFFFF) is wrong',
    values: [{ width: 1280 }],
    bytes: hex('08 ffffffff 0005 7769647468 00 4094000000000000 0000 09'),
    decodeOnly: true,
  },
  {
    name: 'strict array (spec 2.12) of number, string and null',
    values: [[1, 'a', null]],
    bytes: hex('0a 00000003 00 3ff0000000000000 02 0001 61 05'),
  },
  {
    name: 'nested strict arrays, empty and non-empty',
    values: [[[], [true, false]]],
    bytes: hex('0a 00000002 0a 00000000 0a 00000002 01 01 01 00'),
  },
  {
    name: 'date (spec 2.13) with time zone 0',
    values: [new Date(Date.UTC(2024, 0, 1))],
    bytes: hex('0b 4278cc251f400000 0000'),
  },
  { name: 'null and undefined', values: [null, undefined], bytes: hex('05 06') },
  {
    name: 'unsupported (0x0D) decodes as undefined',
    values: [undefined],
    bytes: hex('0d'),
    decodeOnly: true,
  },
  { name: 'empty object', values: [{}], bytes: hex('03 0000 09') },
  { name: 'UTF-8 string', values: ['é日本🎥'], bytes: hex('02 000c c3a9e697a5e69cacf09f8ea5') },
  {
    name: 'string of 65535 bytes stays a short string',
    values: ['y'.repeat(0xffff)],
    bytes: Buffer.concat([hex('02 ffff'), Buffer.alloc(0xffff, 'y')]),
  },
  {
    name: 'string of 70000 bytes becomes a long string (spec 2.14)',
    values: [longText],
    bytes: Buffer.concat([hex('0c 00011170'), Buffer.from(longText)]),
  },
  { name: 'NaN, -0 and Infinity', values: [NaN, -0, Infinity, -Infinity, 2.5] },
  { name: 'object with undefined and nested values', values: [{ a: undefined, b: { c: [{}] } }] },
];

for (const c of cases) {
  if (c.bytes !== undefined && c.decodeOnly !== true) {
    void test(`encodeAmf0() writes the spec bytes: ${c.name}`, () => {
      assert.deepEqual(encodeAmf0(c.values), c.bytes);
    });
  }
  if (c.bytes !== undefined) {
    void test(`decodeAmf0() reads the spec bytes: ${c.name}`, () => {
      assert.deepEqual(decodeAmf0(c.bytes!), c.values);
    });
  }
  void test(`decodeAmf0(encodeAmf0()) round-trips: ${c.name}`, () => {
    assert.deepEqual(decodeAmf0(encodeAmf0(c.values)), c.values);
  });
}

void test('decodeAmf0() keeps a __proto__ key as an own property, never as the prototype', () => {
  const buf = hex('03 0009 5f5f70726f746f5f5f 03 0001 61 00 3ff0000000000000 0000 09 0000 09');
  const [decoded] = decodeAmf0(buf) as [Amf0Object];
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.ok(Object.hasOwn(decoded, '__proto__'));
  assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, { a: 1 });
  assert.equal((decoded as { a?: unknown }).a, undefined);
  assert.deepEqual(encodeAmf0([decoded]), buf);
});

void test('decodeAmf0() accepts an empty key with a value as an ordinary property', () => {
  assert.deepEqual(decodeAmf0(hex('03 0000 05 0000 09')), [{ '': null }]);
});

void test('decodeAmf0() throws ERR_AMF0_TRUNCATED for every cut inside the connect object', () => {
  const full = cases[1]!.bytes!;
  const objectStart = 19; // after "connect" (10 bytes) and the number (9 bytes)
  for (let cut = 1; cut < full.length; cut++) {
    const prefix = full.subarray(0, cut);
    if (cut === 10 || cut === objectStart) {
      assert.equal(decodeAmf0(prefix).length, cut === 10 ? 1 : 2);
    } else {
      assertCodecError(() => decodeAmf0(prefix), 'ERR_AMF0_TRUNCATED');
    }
  }
});

void test('decodeAmf0() rejects 10 000 nested objects with ERR_AMF0_DEPTH, not RangeError', () => {
  const nested = Buffer.concat(Array.from({ length: 10_000 }, () => hex('03 0001 61')));
  assertCodecError(() => decodeAmf0(nested), 'ERR_AMF0_DEPTH', 32 * 4);
  const arrays = Buffer.concat(Array.from({ length: 10_000 }, () => hex('0a 00000001')));
  assertCodecError(() => decodeAmf0(arrays), 'ERR_AMF0_DEPTH', 32 * 5);
});

void test('decodeAmf0() allows exactly maxDepth levels and no more', () => {
  const nestedObjects = (levels: number): Buffer =>
    Buffer.concat([
      hex('03 0001 61'.repeat(levels - 1)),
      hex('03 0000 09'),
      hex('0000 09'.repeat(levels - 1)),
    ]);
  assert.equal(decodeAmf0(nestedObjects(32)).length, 1);
  assertCodecError(() => decodeAmf0(nestedObjects(33)), 'ERR_AMF0_DEPTH');
  assert.equal(decodeAmf0(nestedObjects(3), { maxDepth: 3 }).length, 1);
  assertCodecError(() => decodeAmf0(nestedObjects(4), { maxDepth: 3 }), 'ERR_AMF0_DEPTH');
});

void test('decodeAmf0() decodes 10 000 nested objects iteratively when maxDepth allows it', () => {
  const levels = 10_000;
  const buf = Buffer.concat([
    hex('03 0001 61'.repeat(levels - 1)),
    hex('03 0000 09'),
    hex('0000 09'.repeat(levels - 1)),
  ]);
  const [outer] = decodeAmf0(buf, { maxDepth: levels, maxItems: levels });
  let node = outer as Amf0Object;
  for (let depth = 1; depth < levels; depth++) node = node['a'] as Amf0Object;
  assert.deepEqual(node, {});
});

void test('decodeAmf0() throws ERR_AMF0_TRUNCATED for a 0xFFFF string with 3 bytes', () => {
  assertCodecError(() => decodeAmf0(hex('02 ffff 616263')), 'ERR_AMF0_TRUNCATED', 3);
});

void test('decodeAmf0() throws ERR_AMF0_TRUNCATED for a 0xFFFFFFFF long string without allocating', () => {
  const before = process.memoryUsage().arrayBuffers;
  assertCodecError(() => decodeAmf0(hex('0c ffffffff 616263')), 'ERR_AMF0_TRUNCATED', 5);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
});

void test('decodeAmf0() rejects a strict array count of 2^32-1 with few bytes as ERR_AMF0_TOO_LARGE', () => {
  assertCodecError(() => decodeAmf0(hex('0a ffffffff 05 05 05')), 'ERR_AMF0_TOO_LARGE', 0);
  // A count that fits the bytes but whose elements are missing is a truncation.
  assertCodecError(() => decodeAmf0(hex('0a 00000003 05 05 0a')), 'ERR_AMF0_TRUNCATED');
});

void test('decodeAmf0() rejects more than maxItems values with ERR_AMF0_TOO_LARGE', () => {
  const nulls = (count: number): Buffer => Buffer.alloc(count, 0x05);
  assert.equal(decodeAmf0(nulls(AMF0_DEFAULT_MAX_ITEMS)).length, AMF0_DEFAULT_MAX_ITEMS);
  assertCodecError(() => decodeAmf0(nulls(AMF0_DEFAULT_MAX_ITEMS + 1)), 'ERR_AMF0_TOO_LARGE');
  // Nested values count too: an array of 3 nulls is 4 values.
  assertCodecError(
    () => decodeAmf0(hex('0a 00000003 05 05 05'), { maxItems: 3 }),
    'ERR_AMF0_TOO_LARGE',
    7,
  );
});

const rejectedMarkers = [
  [0x04, 'movieclip'],
  [0x07, 'reference'],
  [0x0e, 'recordset'],
  [0x0f, 'XML document'],
  [0x10, 'typed object'],
  [0x11, 'AVM+ switch'],
  [0x12, 'unknown'],
  [0xff, 'unknown'],
] as const;

for (const [marker, name] of rejectedMarkers) {
  void test(`decodeAmf0() rejects marker 0x${marker.toString(16)} (${name}) at top level and inside an object`, () => {
    const m = marker.toString(16).padStart(2, '0');
    assertCodecError(() => decodeAmf0(hex(`05 ${m} 0000 0000`)), 'ERR_AMF0_UNSUPPORTED_TYPE', 1);
    assertCodecError(
      () => decodeAmf0(hex(`03 0001 61 ${m} 0000 0000 0000 09`)),
      'ERR_AMF0_UNSUPPORTED_TYPE',
      4,
    );
  });
}

void test('decodeAmf0() rejects an object-end marker outside a property list', () => {
  assertCodecError(() => decodeAmf0(hex('09')), 'ERR_AMF0_UNSUPPORTED_TYPE', 0);
  assertCodecError(() => decodeAmf0(hex('0a 00000001 09')), 'ERR_AMF0_UNSUPPORTED_TYPE', 5);
  assertCodecError(() => decodeAmf0(hex('03 0001 61 09')), 'ERR_AMF0_UNSUPPORTED_TYPE', 4);
  // Leniency at buffer end is for ECMA arrays only; an object must be closed.
  assertCodecError(() => decodeAmf0(hex('03 0001 61 05')), 'ERR_AMF0_TRUNCATED', 5);
});

void test('encodeAmf0() refuses a cyclic value with ERR_AMF0_DEPTH, not RangeError', () => {
  const cyclic: Amf0Object = {};
  cyclic['self'] = cyclic;
  assertCodecError(() => encodeAmf0([cyclic]), 'ERR_AMF0_DEPTH');
});

void test('encodeAmf0() refuses an object key longer than 65535 bytes with ERR_AMF0_TOO_LARGE', () => {
  assertCodecError(() => encodeAmf0([{ ['k'.repeat(0x10000)]: 1 }]), 'ERR_AMF0_TOO_LARGE');
});

const seedsUrl = RTMP_FUZZ_SEEDS;

interface FuzzSeed {
  readonly package: string;
  readonly name: string;
  readonly args: readonly { readonly hex: string }[];
}

void test('decodeAmf0() decodes or throws CodecError for every amf0 seed of rtmp-fuzz-seeds', () => {
  const seeds = JSON.parse(readFileSync(seedsUrl, 'utf8')) as FuzzSeed[];
  const amf0Seeds = seeds.filter((seed) => seed.package === 'amf0');
  assert.ok(amf0Seeds.length > 0, 'no amf0 seeds found');
  for (const seed of amf0Seeds) {
    for (const arg of seed.args) {
      assert.doesNotThrow(() => {
        decodeOrCodecError(Buffer.from(arg.hex, 'hex'));
      }, `seed ${seed.name}`);
    }
  }
});

/** Strings incl. any code point (no lone surrogates: they cannot survive UTF-8) and long ones. */
const stringArb = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0xfff0, max: 0x10010 }), fc.string({ unit: 'binary', maxLength: 4 }))
      .map(([sizeBytes, tail]) => 'z'.repeat(sizeBytes) + tail),
  },
);

const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', '0', ''),
);

const { value: valueArb } = fc.letrec<{ value: Amf0Value }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    fc.double(), // includes NaN, -0 and the infinities, all preserved
    fc.boolean(),
    stringArb,
    fc.constantFrom(null, undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
}));

void test('decodeAmf0(encodeAmf0(xs)) deep-equals xs for arbitrary values', () => {
  fc.assert(
    fc.property(fc.array(valueArb, { maxLength: 6 }), (values) => {
      assert.deepEqual(decodeAmf0(encodeAmf0(values), { maxItems: 1_000_000 }), values);
    }),
    { numRuns: 300 },
  );
});

void test('decodeAmf0() on random bytes only ever throws CodecError', () => {
  // Biased towards real markers so the decoder gets past the first byte.
  const byteArb = fc.oneof(
    fc.constantFrom(0x00, 0x02, 0x03, 0x05, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0xff),
    fc.integer({ min: 0, max: 255 }),
  );
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    fc.array(byteArb, { maxLength: 256 }).map((bytes) => Uint8Array.from(bytes)),
  );
  fc.assert(
    fc.property(bytesArb, (bytes) => {
      decodeOrCodecError(Buffer.from(bytes));
    }),
    { numRuns: 2000 },
  );
});

void test('decodeAmf0() on mutated valid encodings only ever throws CodecError', () => {
  const mutatedArb = fc
    .tuple(
      fc.array(valueArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
    )
    .map(([values, edits, cut]) => {
      const bytes = Buffer.from(encodeAmf0(values));
      for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
      return bytes.subarray(0, bytes.length - (cut % 4));
    });
  fc.assert(
    fc.property(mutatedArb, (bytes) => {
      decodeOrCodecError(bytes);
    }),
    { numRuns: 1000 },
  );
});
