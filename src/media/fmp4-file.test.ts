import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from '../codecs/codec-error.ts';
import { FlvDecoder, FlvTagType } from '../codecs/flv.ts';
import { box, fullBox, uints } from '../codecs/mp4-boxes.ts';
import {
  encodeMfra,
  MAX_OTHER_BOXES,
  parseMoof,
  rebaseMoof,
  recordingInit,
  scanFmp4,
  scanFmp4File,
} from './fmp4-file.ts';
import type { Fmp4Index, MoofInfo } from './fmp4-file.ts';
import {
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

/** libx264 320x240 High@1.3 SPS and PPS in an AVCDecoderConfigurationRecord. */
const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const AVCC = Buffer.concat([
  Buffer.from([1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, SPS.length]),
  SPS,
  Buffer.from([1, 0, PPS.length]),
  PPS,
]);
const H264: Track = { kind: 'video', codec: 'h264', config: AVCC, width: 320, height: 240 };
const AAC: Track = {
  kind: 'audio',
  codec: 'aac',
  config: Buffer.from('1210', 'hex'),
  sampleRate: 44100,
  channels: 2,
};

// ---- Helpers ----

/** A top-level or child box as the tests read it back. */
interface Box {
  readonly type: string;
  readonly start: number;
  readonly body: Buffer;
}

/** Splits `buf` into 32-bit-size boxes; fails unless their sizes add up to exactly its length. */
function boxes(buf: Buffer): Box[] {
  const out: Box[] = [];
  let at = 0;
  while (at < buf.length) {
    assert.ok(at + 8 <= buf.length, `box header at ${at} fits`);
    const size = buf.readUInt32BE(at);
    assert.ok(size >= 8 && at + size <= buf.length, `box size ${size} at ${at} fits`);
    const type = buf.toString('latin1', at + 4, at + 8);
    out.push({ type, start: at, body: buf.subarray(at + 8, at + size) });
    at += size;
  }
  return out;
}

/** The body of the one child of `body` of type `type`. */
function child(body: Buffer, type: string): Buffer {
  const found = boxes(body).filter((b) => b.type === type);
  assert.equal(found.length, 1, `one ${type}`);
  return found[0]!.body;
}

/** Walks a path of container boxes: path(init, 'moov', 'mvex'). */
const path = (buf: Buffer, ...types: string[]): Buffer => types.reduce(child, buf);

/** A u64 from a full box body at `at`. */
const u64 = (buf: Buffer, at: number): number =>
  buf.readUInt32BE(at) * 2 ** 32 + buf.readUInt32BE(at + 4);

/** `count` samples of `durationTicks`, the first a keyframe when `keyFirst`, data bytes varying. */
function samples(
  count: number,
  durationTicks: number,
  keyFirst: boolean,
  ctsStep = 0,
): Fmp4Sample[] {
  return Array.from({ length: count }, (_, i) => ({
    data: Buffer.alloc(10 + i, i + 1),
    durationTicks,
    ctsOffsetTicks: ctsStep * (i % 3),
    keyframe: keyFirst ? i === 0 : true,
  }));
}

/** A small file: the init of H.264 + AAC and `count` fragments of 5 video and 4 audio samples. */
function syntheticFile(count: number): {
  init: Buffer;
  fragments: Buffer[];
  runs: Fmp4TrackRun[][];
} {
  const runs = Array.from({ length: count }, (_, i): Fmp4TrackRun[] => [
    { trackId: 1, baseDecodeTimeTicks: i * 5 * 3600, samples: samples(5, 3600, true, 3600) },
    { trackId: 2, baseDecodeTimeTicks: i * 4 * 1024, samples: samples(4, 1024, false) },
  ]);
  return {
    init: encodeInitSegment([H264, AAC]),
    fragments: runs.map((r, i) => encodeFragment(i + 1, r)),
    runs,
  };
}

/** What parseMoof should return for a fragment encoded from `runs`. */
function expectedInfo(sequence: number, runs: readonly Fmp4TrackRun[]): MoofInfo {
  return {
    sequence,
    tracks: runs.map((r) => ({
      trackId: r.trackId,
      baseDecodeTimeTicks: r.baseDecodeTimeTicks,
      durationTicks: r.samples.reduce((sum, s) => sum + s.durationTicks, 0),
      sampleCount: r.samples.length,
      firstSampleSync: r.samples[0]?.keyframe ?? false,
    })),
  };
}

/** A read function over `file` that records every request. */
function reader(file: Buffer): {
  read: (offset: number, length: number) => Promise<Buffer>;
  requests: Array<[number, number]>;
} {
  const requests: Array<[number, number]> = [];
  const read = (offset: number, length: number): Promise<Buffer> => {
    requests.push([offset, length]);
    return Promise.resolve(file.subarray(offset, offset + length));
  };
  return { read, requests };
}

const scanBuffer = (file: Buffer): Promise<Fmp4Index> => scanFmp4(reader(file).read, file.length);

/** Resolves to the CodecError `promise` rejects with. */
async function codecError(promise: Promise<unknown>): Promise<CodecError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CodecError, String(error));
    return error;
  }
  assert.fail('expected a CodecError');
}

/** Checks the invariants every scan result has, whatever the input. */
function assertConsistent(index: Fmp4Index, size: number): void {
  assert.ok(index.initEnd <= index.end && index.end <= size, `end ${index.end} of ${size}`);
  let at = index.initEnd;
  for (const f of index.fragments) {
    assert.ok(f.offset >= at && f.moofSize < f.size && f.offset + f.size <= size);
    at = f.offset + f.size;
  }
  assert.equal(index.end, index.fragments.at(-1) ? at : index.initEnd);
}

// ---- parseMoof ----

test('parseMoof() returns what encodeFragment() wrote: sequence, tracks, bases, durations, sync', () => {
  const { fragments, runs } = syntheticFile(3);
  fragments.forEach((fragment, i) => {
    assert.deepEqual(parseMoof(fragment), expectedInfo(i + 1, runs[i]!));
  });
});

test('parseMoof() property: random runs parse back to what was encoded', () => {
  const sample = fc.record({
    data: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
    durationTicks: fc.integer({ min: 0, max: 0xffffffff }),
    ctsOffsetTicks: fc.integer({ min: -1000, max: 1000 }),
    keyframe: fc.boolean(),
  });
  const run = fc.record({
    baseDecodeTimeTicks: fc.integer({ min: 0, max: 2 ** 48 }),
    samples: fc.array(sample, { maxLength: 12 }),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.array(run, { maxLength: 4 }),
      (seq, rs) => {
        const runs = rs.map((r, i) => ({ ...r, trackId: i + 1 }));
        assert.deepEqual(parseMoof(encodeFragment(seq, runs)), expectedInfo(seq, runs));
      },
    ),
  );
});

/** tfhd/trun fields onair never writes: base data offset, defaults, first_sample_flags, trex. */
function generalMoof(): Buffer {
  const tfhd7 = fullBox(
    'tfhd',
    0,
    0x01 | 0x02 | 0x08 | 0x10 | 0x20,
    uints(4, 7),
    uints(8, 1000), // base_data_offset
    uints(4, 1, 3000, 500, 0x01010000), // description index, duration, size, flags (non-sync)
  );
  const traf7 = box(
    'traf',
    tfhd7,
    fullBox('tfdt', 0, 0, uints(4, 123456)),
    fullBox('trun', 0, 0x001 | 0x004, uints(4, 10, 0, 0x02000000)), // first_sample_flags: sync
    fullBox('trun', 0, 0x200, uints(4, 2, 10, 20)), // sizes only
  );
  const traf8 = box(
    'traf',
    fullBox('tfhd', 0, 0, uints(4, 8)), // everything from trex
    fullBox('tfdt', 1, 0, uints(8, 2 ** 40)),
    fullBox('trun', 0, 0x400 | 0x800, uints(4, 3, 0x00010000, 5, 0, 0, 0, 0)),
  );
  const traf9 = box(
    'traf',
    fullBox('tfhd', 0, 0x20, uints(4, 9, 0x00010000)), // default flags non-sync
    fullBox('tfdt', 0, 0, uints(4, 0)),
    fullBox('trun', 0, 0, uints(4, 0)), // an empty run does not decide the first sample
    fullBox('trun', 0, 0, uints(4, 4)),
  );
  const traf10 = box(
    'traf',
    fullBox('tfhd', 0, 0, uints(4, 10)),
    fullBox('tfdt', 0, 0, uints(4, 0)),
  );
  return box('moof', fullBox('mfhd', 0, 0, uints(4, 42)), traf7, traf8, traf9, traf10);
}

test('parseMoof() reads the optional tfhd/trun fields of 8.8.7/8.8.8 and the trex defaults', () => {
  const defaults = new Map([[8, { durationTicks: 1024, sampleFlags: 0 }]]);
  assert.deepEqual(parseMoof(generalMoof(), defaults), {
    sequence: 42,
    tracks: [
      {
        trackId: 7,
        baseDecodeTimeTicks: 123456,
        durationTicks: 36000,
        sampleCount: 12,
        firstSampleSync: true,
      },
      {
        trackId: 8,
        baseDecodeTimeTicks: 2 ** 40,
        durationTicks: 3072,
        sampleCount: 3,
        firstSampleSync: false,
      },
      {
        trackId: 9,
        baseDecodeTimeTicks: 0,
        durationTicks: 0,
        sampleCount: 4,
        firstSampleSync: false,
      },
      {
        trackId: 10,
        baseDecodeTimeTicks: 0,
        durationTicks: 0,
        sampleCount: 0,
        firstSampleSync: false,
      },
    ],
  });
  // Without trex defaults, track 8 has no durations.
  assert.equal(parseMoof(generalMoof()).tracks[1]!.durationTicks, 0);
});

test('parseMoof() rejects truncated and malformed moofs with ERR_FMP4_PARSE', () => {
  const [fragment] = syntheticFile(1).fragments;
  const moofSize = fragment!.readUInt32BE(0);
  const mfhd = fullBox('mfhd', 0, 0, uints(4, 1));
  const traf = (...kids: Buffer[]): Buffer => box('moof', mfhd, box('traf', ...kids));
  const tfhd = fullBox('tfhd', 0, 0, uints(4, 1));
  const bad = [
    fragment!.subarray(0, moofSize - 1), // truncated
    fragment!.subarray(moofSize), // the mdat, not a moof
    Buffer.alloc(4),
    box('moof'), // no mfhd
    box('moof', box('mfhd')), // mfhd without its fields
    traf(fullBox('tfdt', 0, 0, uints(4, 0))), // no tfhd
    traf(tfhd), // no tfdt
    traf(tfhd, fullBox('tfdt', 2, 0, uints(8, 0))),
    traf(tfhd, fullBox('tfdt', 1, 0, uints(4, 2 ** 21, 0))), // 2^53: not a safe integer
    traf(tfhd, fullBox('tfdt', 0, 0, uints(4, 0)), fullBox('trun', 0, 0x100, uints(4, 3, 1, 1))),
    traf(tfhd, fullBox('tfdt', 0, 0, uints(4, 0)), fullBox('trun', 0, 0x005, uints(4, 1, 0))),
    box('moof', mfhd, Buffer.from([0, 0, 0, 4, 0x74, 0x72, 0x61, 0x66])), // size 4 < 8
    box('moof', mfhd, Buffer.from([0, 0, 0, 9, 0x74, 0x72, 0x61, 0x66])), // past the moof
    box('moof', mfhd, Buffer.from([0, 0, 0])), // trailing bytes
  ];
  for (const moof of bad) {
    assert.throws(
      () => parseMoof(moof),
      (e: unknown) => e instanceof CodecError && e.code === 'ERR_FMP4_PARSE',
      moof.toString('hex'),
    );
  }
});

// ---- rebaseMoof ----

test('rebaseMoof() changes only mfhd.sequence_number and the listed tracks tfdt, on a copy', () => {
  const { fragments, runs } = syntheticFile(2);
  const fragment = fragments[1]!;
  const before = Buffer.from(fragment);
  const rebased = rebaseMoof(fragment, 77, new Map([[2, 2 ** 33 + 5]]));
  assert.deepEqual(fragment, before, 'input untouched');
  assert.equal(rebased.length, fragment.length, 'the mdat is copied too');
  const expected = expectedInfo(77, runs[1]!);
  assert.deepEqual(parseMoof(rebased), {
    ...expected,
    tracks: [expected.tracks[0], { ...expected.tracks[1]!, baseDecodeTimeTicks: 2 ** 33 + 5 }],
  });
  const changed = [...rebased.keys()].filter((i) => rebased[i] !== fragment[i]);
  // mfhd.sequence_number is at 20 (moof 8 + mfhd 12); track 2's tfdt value somewhere after.
  assert.ok(changed.length > 0 && changed.length <= 4 + 8, `changed ${changed.join(',')}`);
  assert.ok(changed.filter((i) => i >= 20 && i < 24).length > 0);
  const tfdt2 = fragment.indexOf('tfdt', fragment.indexOf('tfdt') + 4) + 8; // version/flags
  assert.ok(changed.every((i) => (i >= 20 && i < 24) || (i >= tfdt2 && i < tfdt2 + 8)));
});

test('rebaseMoof() writes tfdt version 0 in 32 bits and refuses a base that does not fit', () => {
  const moof = generalMoof();
  const rebased = rebaseMoof(
    moof,
    1,
    new Map([
      [7, 0xffffffff],
      [9, 5],
      [99, 1],
    ]),
  );
  const tracks = parseMoof(rebased).tracks;
  assert.deepEqual(
    tracks.map((t) => t.baseDecodeTimeTicks),
    [0xffffffff, 2 ** 40, 5, 0],
  );
  assert.throws(
    () => rebaseMoof(moof, 1, new Map([[7, 2 ** 32]])),
    (e: unknown) => e instanceof CodecError && e.code === 'ERR_FMP4_FIELD_RANGE',
  );
  assert.throws(
    () => rebaseMoof(moof, 2 ** 32, new Map()),
    (e: unknown) => e instanceof CodecError && e.code === 'ERR_FMP4_FIELD_RANGE',
  );
});

test('rebaseMoof() moves later trafs of the same track by the same amount', () => {
  const moof = encodeFragment(1, [
    { trackId: 1, baseDecodeTimeTicks: 100, samples: samples(2, 10, true) },
    { trackId: 1, baseDecodeTimeTicks: 120, samples: samples(2, 10, false) },
  ]);
  const tracks = parseMoof(rebaseMoof(moof, 1, new Map([[1, 1000]]))).tracks;
  assert.deepEqual(
    tracks.map((t) => t.baseDecodeTimeTicks),
    [1000, 1020],
  );
});

// ---- recordingInit ----

/** Checks the box tree of an init segment down to the sample tables, sizes included. */
function assertValidInit(init: Buffer): void {
  assert.deepEqual(
    boxes(init).map((b) => b.type),
    ['ftyp', 'moov'],
  );
  const moov = path(init, 'moov');
  for (const trak of boxes(moov).filter((b) => b.type === 'trak')) {
    boxes(path(trak.body, 'mdia', 'minf', 'stbl'));
  }
  boxes(path(moov, 'mvex'));
}

test('recordingInit() inserts mehd v1 first in mvex, fixes moov and mvex sizes, keeps the rest', () => {
  const init = encodeInitSegment([H264, AAC]);
  const before = Buffer.from(init);
  const recording = recordingInit(init);
  assert.deepEqual(init, before, 'input untouched');
  const { bytes } = recording;
  assert.equal(bytes.length, init.length + 20);
  assertValidInit(bytes);
  assert.equal(recording.timescale, 1000);
  const mvex = boxes(path(bytes, 'moov', 'mvex'));
  assert.deepEqual(
    mvex.map((b) => b.type),
    ['mehd', 'trex', 'trex'],
  );
  assert.equal(mvex[0]!.body[0], 1, 'mehd version 1');
  assert.equal(u64(mvex[0]!.body, 4), 0);
  // Every other box is byte for byte the same.
  const original = boxes(path(init, 'moov'));
  const copied = boxes(path(bytes, 'moov'));
  assert.deepEqual(
    copied.slice(0, -1).map((b) => b.body),
    original.slice(0, -1).map((b) => b.body),
  );
  assert.deepEqual(
    mvex.slice(1).map((b) => b.body),
    boxes(path(init, 'moov', 'mvex')).map((b) => b.body),
  );
});

test('recordingInit().patchDuration() writes mvhd.duration and mehd.fragment_duration in ms', () => {
  const { bytes, patchDuration } = recordingInit(encodeInitSegment([H264]));
  const patches = patchDuration(123_456.4);
  assert.equal(patches.length, 2);
  const file = Buffer.from(bytes);
  for (const p of patches) {
    assert.ok(p.offset + p.bytes.length <= bytes.length);
    p.bytes.copy(file, p.offset);
  }
  assertValidInit(file);
  const mvhd = path(file, 'moov', 'mvhd');
  assert.equal(mvhd[0], 0, 'mvhd version 0');
  assert.equal(mvhd.readUInt32BE(12), 1000, 'timescale');
  assert.equal(mvhd.readUInt32BE(16), 123456, 'duration');
  assert.equal(u64(path(file, 'moov', 'mvex', 'mehd'), 4), 123456);
  // Only the two fields differ from the unpatched init.
  const changed = [...file.keys()].filter((i) => file[i] !== bytes[i]);
  assert.ok(changed.length > 0 && changed.length <= 12);
  // A 32-bit mvhd duration that overflows says "unknown" (all 1s), the 64-bit mehd keeps it.
  const [mvhdPatch, mehdPatch] = patchDuration(2 ** 33);
  assert.equal(mvhdPatch!.bytes.readUInt32BE(0), 0xffffffff);
  assert.equal(u64(mehdPatch!.bytes, 0), 2 ** 33);
  assert.throws(() => patchDuration(-1), CodecError);
});

test('recordingInit() handles mvhd version 1, a 64-bit moov size and an existing mehd', () => {
  const mvhd1 = fullBox('mvhd', 1, 0, uints(8, 0, 0), uints(4, 600), uints(8, 0), Buffer.alloc(80));
  const mvex = box(
    'mvex',
    fullBox('mehd', 0, 0, uints(4, 0)),
    fullBox('trex', 0, 0, uints(4, 1, 1, 0, 0, 0)),
  );
  const body = Buffer.concat([mvhd1, mvex]);
  const moov64 = Buffer.concat([
    uints(4, 1),
    Buffer.from('moov'),
    uints(8, 16 + body.length),
    body,
  ]);
  const init = Buffer.concat([box('ftyp', Buffer.from('iso6')), moov64]);
  const recording = recordingInit(init);
  assert.equal(recording.bytes.length, init.length, 'the existing mehd is patched in place');
  assert.equal(recording.timescale, 600);
  const file = Buffer.from(recording.bytes);
  for (const p of recording.patchDuration(2000)) p.bytes.copy(file, p.offset);
  const mvhdAt = init.indexOf('mvhd') + 4;
  assert.equal(u64(file, mvhdAt + 4 + 16 + 4), 1200, 'mvhd v1 duration at 600/s');
  assert.equal(file.readUInt32BE(init.indexOf('mehd') + 8), 1200, 'mehd v0 duration');

  // With no mehd, the inserted one grows the 64-bit size.
  const noMehd = Buffer.concat([
    mvhd1,
    box('mvex', fullBox('trex', 0, 0, uints(4, 1, 1, 0, 0, 0))),
  ]);
  const moov = Buffer.concat([
    uints(4, 1),
    Buffer.from('moov'),
    uints(8, 16 + noMehd.length),
    noMehd,
  ]);
  const grown = recordingInit(moov).bytes;
  assert.equal(u64(grown, 8), grown.length);
});

test('recordingInit() rejects an init without moov, mvhd or mvex with ERR_FMP4_PARSE', () => {
  const mvhd = path(encodeInitSegment([H264]), 'moov');
  for (const init of [
    box('ftyp', Buffer.from('iso6')),
    box('moov', box('mvex')),
    box('moov', fullBox('mvhd', 0, 0, uints(4, 0, 0, 1000, 0))),
    box('moov', fullBox('mvhd', 0, 0, uints(4, 0, 0)), box('mvex')), // mvhd cut short
    Buffer.concat([box('moov', mvhd), Buffer.alloc(3)]),
  ]) {
    assert.throws(
      () => recordingInit(init),
      (e: unknown) => e instanceof CodecError && e.code === 'ERR_FMP4_PARSE',
    );
  }
});

// ---- encodeMfra ----

test('encodeMfra() writes one tfra v1 per track with 1-byte numbers, then mfro with the size', () => {
  const mfra = encodeMfra([
    {
      trackId: 1,
      entries: [
        { timeTicks: 0, moofOffset: 900 },
        { timeTicks: 2 ** 35, moofOffset: 2 ** 33 },
      ],
    },
    { trackId: 2, entries: [{ timeTicks: 7, moofOffset: 900, trafNumber: 2 }] },
  ]);
  const [top] = boxes(mfra);
  assert.equal(top?.type, 'mfra');
  const kids = boxes(top.body);
  assert.deepEqual(
    kids.map((b) => b.type),
    ['tfra', 'tfra', 'mfro'],
  );
  const tfra = kids[0]!.body;
  assert.equal(tfra.readUInt32BE(0), 0x01000000, 'version 1, flags 0');
  assert.equal(tfra.readUInt32BE(4), 1, 'track_ID');
  assert.equal(tfra.readUInt32BE(8), 0, 'length_size_of_* 0: one byte each');
  assert.equal(tfra.readUInt32BE(12), 2, 'number_of_entry');
  assert.equal(tfra.length, 16 + 2 * 19);
  assert.deepEqual([u64(tfra, 16), u64(tfra, 24), ...tfra.subarray(32, 35)], [0, 900, 1, 1, 1]);
  assert.deepEqual([u64(tfra, 35), u64(tfra, 43)], [2 ** 35, 2 ** 33]);
  assert.deepEqual([...kids[1]!.body.subarray(32, 35)], [2, 1, 1]);
  assert.equal(mfra.readUInt32BE(mfra.length - 4), mfra.length, 'mfro.size = mfra size');
  assert.equal(mfra.length, 8 + (24 + 2 * 19) + (24 + 19) + 16);
  assert.deepEqual(
    boxes(encodeMfra([])).map((b) => b.type),
    ['mfra'],
  );
});

// ---- scanFmp4 ----

test('scanFmp4() indexes init + fragments + mfra: tracks, fragments, end, hasMfra', async () => {
  const { init, fragments, runs } = syntheticFile(4);
  const recording = recordingInit(init).bytes;
  const mfra = encodeMfra([
    { trackId: 1, entries: [{ timeTicks: 0, moofOffset: recording.length }] },
  ]);
  const file = Buffer.concat([recording, ...fragments, mfra]);
  const { read, requests } = reader(file);
  const index = await scanFmp4(read, file.length);
  assert.equal(index.initEnd, recording.length);
  assert.deepEqual(index.tracks, [
    { trackId: 1, kind: 'video', timescale: 90000, codec: 'avc1', width: 320, height: 240 },
    { trackId: 2, kind: 'audio', timescale: 44100, codec: 'mp4a', channels: 2, sampleRate: 44100 },
  ]);
  let offset = recording.length;
  assert.deepEqual(
    index.fragments,
    fragments.map((f, i) => {
      const entry = {
        offset,
        size: f.length,
        moofSize: f.readUInt32BE(0),
        ...expectedInfo(i + 1, runs[i]!),
      };
      offset += f.length;
      return entry;
    }),
  );
  assert.equal(index.end, file.length - mfra.length);
  assert.equal(index.hasMfra, true);
  assertConsistent(index, file.length);
  // Never a byte of mdat payload: every request lies in the init, a moof or a box header.
  for (const f of index.fragments) {
    const payload = [f.offset + f.moofSize + 8, f.offset + f.size];
    for (const [at, length] of requests) {
      assert.ok(at + length <= payload[0]! || at >= payload[1]!, `read ${at}+${length}`);
    }
  }
});

test('scanFmp4() on every prefix of a file: never throws past the moov, end and fragments only grow', async () => {
  const { init, fragments } = syntheticFile(3);
  const mfra = encodeMfra([{ trackId: 1, entries: [{ timeTicks: 0, moofOffset: init.length }] }]);
  const file = Buffer.concat([init, ...fragments, mfra]);
  const full = await scanBuffer(file);
  const ends = [init.length];
  for (const f of fragments) ends.push(ends.at(-1)! + f.length);
  let previous = 0;
  for (let length = 0; length <= file.length; length++) {
    const prefix = file.subarray(0, length);
    if (length < init.length) {
      assert.equal((await codecError(scanBuffer(prefix))).code, 'ERR_FMP4_PARSE');
      continue;
    }
    const index = await scanBuffer(prefix);
    assertConsistent(index, length);
    assert.ok(index.fragments.length >= previous, `monotonic at ${length}`);
    previous = index.fragments.length;
    assert.deepEqual(index.fragments, full.fragments.slice(0, index.fragments.length));
    // end is the largest complete fragment end within the prefix.
    assert.equal(index.end, ends.filter((e) => e <= length).at(-1), `end at ${length}`);
    assert.equal(index.hasMfra, length === file.length);
  }
});

test('scanFmp4() follows 64-bit box sizes and a last box of size 0', async () => {
  const { init, fragments } = syntheticFile(2);
  // Fragment 1 with a 64-bit mdat size; a 64-bit free box; fragment 2 with mdat size 0.
  const [one, two] = fragments as [Buffer, Buffer];
  const moofOne = one.readUInt32BE(0);
  const payloadOne = one.subarray(moofOne + 8);
  const mdat64 = Buffer.concat([
    uints(4, 1),
    Buffer.from('mdat'),
    uints(8, 16 + payloadOne.length),
    payloadOne,
  ]);
  const free64 = Buffer.concat([uints(4, 1), Buffer.from('free'), uints(8, 20), Buffer.alloc(4)]);
  const twoLast = Buffer.from(two);
  twoLast.writeUInt32BE(0, twoLast.readUInt32BE(0));
  const file = Buffer.concat([init, one.subarray(0, moofOne), mdat64, free64, twoLast]);
  const index = await scanBuffer(file);
  assert.equal(index.fragments.length, 2);
  assert.equal(index.fragments[0]!.size, moofOne + mdat64.length);
  assert.equal(index.fragments[1]!.offset, init.length + moofOne + mdat64.length + 20);
  assert.equal(index.end, file.length);
});

test('scanFmp4() stops at hostile boxes after the moov with the fragments before them', async () => {
  const { init, fragments } = syntheticFile(2);
  const good = Buffer.concat([init, fragments[0]!]);
  const hostile = [
    Buffer.from([0, 0, 0, 4, 0x66, 0x72, 0x65, 0x65]), // size 4 < 8
    Buffer.concat([uints(4, 0xffffffff), Buffer.from('moof')]), // past the end
    Buffer.concat([uints(4, 1), Buffer.from('free'), uints(4, 2 ** 28, 0)]), // largesize 2^60
    Buffer.concat([uints(4, 1), Buffer.from('free'), uints(8, 12)]), // largesize < header
    Buffer.concat([box('moof', Buffer.from('garbage garbage')), box('mdat')]), // nested garbage
    Buffer.concat([box('moof', fullBox('mfhd', 0, 0, uints(4, 1))), box('free')]), // no mdat
  ];
  // A cut-off box is only recognisable at the end of the file (mid-file it swallows what follows).
  const truncated = [
    fragments[1]!.subarray(0, fragments[1]!.length - 1), // mdat cut short
    fragments[1]!.subarray(0, 30), // moof cut short
    Buffer.from(fragments[1]!.subarray(0, 12)), // 64-bit size cut short (a copy: written below)
    Buffer.alloc(7),
  ];
  truncated[2]!.writeUInt32BE(1, 0);
  for (const file of [
    ...hostile.map((tail) => Buffer.concat([good, tail, fragments[1]!])),
    ...truncated.map((tail) => Buffer.concat([good, tail])),
  ]) {
    const index = await scanBuffer(file);
    assertConsistent(index, file.length);
    assert.equal(index.fragments.length, 1, file.subarray(good.length).toString('hex'));
    assert.equal(index.end, good.length);
  }
});

test('scanFmp4() throws ERR_FMP4_PARSE without a complete, sane moov', async () => {
  const { init, fragments } = syntheticFile(1);
  const ftyp = init.subarray(0, init.readUInt32BE(0));
  for (const file of [
    Buffer.alloc(0),
    Buffer.concat([ftyp, fragments[0]!]), // a moof before any moov
    Buffer.concat([ftyp, Buffer.from([0, 0, 0, 2, 0x6d, 0x6f, 0x6f, 0x76])]),
    Buffer.concat([ftyp, box('moov', Buffer.from('garbage!'))]),
    Buffer.concat([ftyp, box('moov', box('trak'))]), // a trak without tkhd
  ]) {
    assert.equal((await codecError(scanBuffer(file))).code, 'ERR_FMP4_PARSE');
  }
});

test('scanFmp4() bounds its work: huge moof, huge mdat, endless small boxes', async () => {
  const { init } = syntheticFile(1);
  // A virtual 1 TiB file: the init, then a moof header claiming 20 MiB.
  const huge = Buffer.concat([init, uints(4, 20 * 1024 * 1024), Buffer.from('moof')]);
  const { read, requests } = reader(huge);
  const index = await scanFmp4(read, 2 ** 40);
  assert.deepEqual(index.fragments, []);
  assert.ok(
    requests.every(([, length]) => length <= init.length),
    'never reads the moof',
  );

  // Too many free boxes: the scan stops after MAX_OTHER_BOXES of them.
  const frees = Buffer.concat(Array.from({ length: MAX_OTHER_BOXES + 100 }, () => box('free')));
  const many = reader(Buffer.concat([init, frees, syntheticFile(1).fragments[0]!]));
  const stopped = await scanFmp4(many.read, init.length + frees.length + 10_000);
  assert.deepEqual(stopped.fragments, []);
  assert.ok(many.requests.length <= MAX_OTHER_BOXES + 10, `${many.requests.length} reads`);
});

test('scanFmp4() property: random corruption gives a CodecError or a consistent, bounded index', async () => {
  const { init, fragments } = syntheticFile(3);
  const file = Buffer.concat([init, ...fragments]);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(file.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.nat(file.length),
      async (writes, cut) => {
        const bad = Buffer.from(file.subarray(0, Math.max(cut, file.length - 200)));
        for (const [at, value] of writes) if (at < bad.length) bad[at] = value;
        const { read, requests } = reader(bad);
        try {
          assertConsistent(await scanFmp4(read, bad.length), bad.length);
        } catch (error) {
          assert.ok(error instanceof CodecError, String(error));
        }
        assert.ok(requests.length <= bad.length / 2 + 10, `${requests.length} reads`);
      },
    ),
    { numRuns: 300 },
  );
});

test('scanFmp4File() reads a file on disk like scanFmp4() reads the buffer', async () => {
  const { init, fragments } = syntheticFile(3);
  const file = Buffer.concat([init, ...fragments, fragments[0]!.subarray(0, 50)]);
  const dir = mkdtempSync(join(tmpdir(), 'onair-fmp4-file-'));
  try {
    writeFileSync(join(dir, 'rec.mp4'), file);
    const index = await scanFmp4File(join(dir, 'rec.mp4'));
    assert.deepEqual(index, await scanBuffer(file));
    assert.equal(index.fragments.length, 3);
    await assert.rejects(scanFmp4File(join(dir, 'missing.mp4')), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- End to end with ffprobe / ffmpeg ----

/** Tracks and frames of an FLV file, as the RTMP ingest would make them. */
function demuxFlv(flv: Buffer): { tracks: Track[]; frames: Frame[] } {
  const tracks = new Map<string, Track>();
  const frames: Frame[] = [];
  for (const tag of new FlvDecoder().push(flv)) {
    if (tag.type !== FlvTagType.Video && tag.type !== FlvTagType.Audio) continue;
    const kind = tag.type === FlvTagType.Video ? 'video' : 'audio';
    const parse = kind === 'video' ? parseVideoTag(tag.body) : parseAudioTag(tag.body);
    if (parse.type === 'sequence-header' && !tracks.has(kind)) tracks.set(kind, parse.track);
    if (parse.type !== 'frame') continue;
    const { ctsMs, keyframe, payloadOffset } = parse;
    frames.push({
      kind,
      timescale: 1000,
      dts: tag.timestamp,
      pts: tag.timestamp + ctsMs,
      keyframe,
      sequenceHeader: false,
      payload: tag.body.subarray(payloadOffset),
      flvBody: tag.body,
    });
  }
  return { tracks: ['video', 'audio'].flatMap((k) => tracks.get(k) ?? []), frames };
}

/** One fragment per video keyframe; sample durations from the next dts (the last repeats). */
function fragmentRuns(tracks: readonly Track[], frames: readonly Frame[]): Fmp4TrackRun[][] {
  const perTrack = tracks.map((track) => {
    const timescale = timescaleOf(track);
    const own = frames.filter((f) => f.kind === track.kind && sampleData(track, f).length > 0);
    const dts = own.map((f) => msToTicks(f.dts, timescale));
    return own.map((frame, i) => ({
      dtsMs: frame.dts,
      dtsTicks: dts[i]!,
      data: sampleData(track, frame),
      durationTicks: (dts[i + 1] ?? dts[i]! + (dts[i]! - (dts[i - 1] ?? 0))) - dts[i]!,
      ctsOffsetTicks: msToTicks(frame.pts, timescale) - dts[i]!,
      keyframe: track.kind === 'audio' || frame.keyframe,
    }));
  });
  const cuts = frames.filter((f) => f.kind === 'video' && f.keyframe).map((f) => f.dts);
  return cuts.map((cut, i) =>
    perTrack.flatMap((timed, t): Fmp4TrackRun[] => {
      const start = i === 0 ? -Infinity : cut;
      const inRange = timed.filter((s) => s.dtsMs >= start && s.dtsMs < (cuts[i + 1] ?? Infinity));
      if (inRange[0] === undefined) return [];
      const plain = inRange.map(({ data, durationTicks, ctsOffsetTicks, keyframe }) => ({
        data,
        durationTicks,
        ctsOffsetTicks,
        keyframe,
      }));
      return [{ trackId: t + 1, baseDecodeTimeTicks: inRange[0].dtsTicks, samples: plain }];
    }),
  );
}

test('a recording (recordingInit + rebased fragments + mfra, durations patched) plays in ffprobe/ffmpeg', async () => {
  const flv = execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25'],
      ...['-f', 'lavfi', '-i', 'sine=sample_rate=44100', '-t', '3', '-c:v', 'libx264', '-g', '25'],
      ...['-c:a', 'aac', '-f', 'flv', 'pipe:1'],
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const { tracks, frames } = demuxFlv(flv);
  assert.equal(tracks.length, 2);
  const runs = fragmentRuns(tracks, frames);
  assert.equal(runs.length, 3);
  const init = recordingInit(encodeInitSegment(tracks));
  // The recorder re-bases fragments from a live stream that started 100 s in: move them to 0.
  const firstBase = runs[0]!.map((r) => r.baseDecodeTimeTicks);
  const parts = [init.bytes];
  const entries: Array<{ timeTicks: number; moofOffset: number }> = [];
  let offset = init.bytes.length;
  let durationMs = 0;
  runs.forEach((fragmentRunsOf, i) => {
    const live = fragmentRunsOf.map((r, t) => ({
      ...r,
      baseDecodeTimeTicks: r.baseDecodeTimeTicks + 100 * timescaleOf(tracks[t]!),
    }));
    const bases = new Map(
      fragmentRunsOf.map((r, t) => [r.trackId, r.baseDecodeTimeTicks - firstBase[t]!]),
    );
    const fragment = rebaseMoof(encodeFragment(1000 + i, live), i + 1, bases);
    const info = parseMoof(fragment);
    assert.equal(info.tracks[0]!.firstSampleSync, true);
    entries.push({ timeTicks: info.tracks[0]!.baseDecodeTimeTicks, moofOffset: offset });
    for (const [t, track] of info.tracks.entries()) {
      const end =
        ((track.baseDecodeTimeTicks + track.durationTicks) * 1000) / timescaleOf(tracks[t]!);
      durationMs = Math.max(durationMs, end);
    }
    parts.push(fragment);
    offset += fragment.length;
  });
  parts.push(encodeMfra([{ trackId: 1, entries }]));
  const file = Buffer.concat(parts);
  for (const patch of init.patchDuration(durationMs)) patch.bytes.copy(file, patch.offset);

  const dir = mkdtempSync(join(tmpdir(), 'onair-fmp4-file-'));
  try {
    const name = join(dir, 'recording.mp4');
    writeFileSync(name, file);
    const index = await scanFmp4File(name);
    assert.equal(index.fragments.length, 3);
    assert.equal(index.hasMfra, true);
    assert.equal(index.end, offset);
    const probe = JSON.parse(
      execFileSync(
        'ffprobe',
        ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', name],
        {
          encoding: 'utf8',
        },
      ),
    ) as { format: { duration: string }; streams: Array<Record<string, string>> };
    assert.deepEqual(
      probe.streams.map((s) => s.codec_name),
      ['h264', 'aac'],
    );
    assert.ok(
      Math.abs(Number(probe.format.duration) * 1000 - durationMs) <= 40,
      `${probe.format.duration} s vs ${durationMs} ms`,
    );
    assert.ok(Math.abs(durationMs - 3000) <= 100, `${durationMs} ms`);
    // With -use_mfra_for dts the demuxer takes each fragment's start from the tfra entry that
    // names its moof offset instead of tfdt: the same times prove the entries right.
    const dts = (...extra: string[]): string =>
      execFileSync(
        'ffprobe',
        [...['-v', 'error', ...extra, '-select_streams', 'v', '-show_entries', 'packet=dts'], name],
        { encoding: 'utf8' },
      );
    assert.equal(dts('-use_mfra_for', 'dts'), dts());
    assert.equal(dts().match(/dts=/g)?.length, frames.filter((f) => f.kind === 'video').length);
    // Plain, and with the demuxer taking fragment times from the mfra (8.8.10) instead of tfdt.
    for (const extra of [[], ['-use_mfra_for', 'dts']]) {
      const decode = spawnSync(
        'ffmpeg',
        ['-v', 'error', '-xerror', ...extra, '-i', name, '-f', 'null', '-'],
        { encoding: 'utf8' },
      );
      assert.equal(decode.status, 0, decode.stderr);
      assert.equal(decode.stderr, '');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
