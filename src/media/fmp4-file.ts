// Fragmented MP4 files for the recorder: read and re-base movie fragments, an init segment with
// patchable durations, the mfra random access index, and a bounded scan of a file that may end
// mid-box after a crash. ISO/IEC 14496-12 4.2 (boxes), 8.2.2 (mvhd), 8.8 (movie fragments).
// Every byte is untrusted: reads are bounds-checked and malformed boxes throw ERR_FMP4_PARSE.

import { open } from 'node:fs/promises';
import { CodecError } from '../codecs/codec-error.ts';
import { box, checkField, fullBox, uints } from '../codecs/mp4-boxes.ts';

/** The scan reads at most this much of one moof; a larger one ends the scan. */
export const MAX_MOOF_BYTES = 16 * 1024 * 1024;
/** The scan reads at most this much of the moov; a larger one is refused. */
export const MAX_MOOV_BYTES = 16 * 1024 * 1024;
/** The scan stops after this many fragments (23 days of 2 s fragments). */
export const MAX_FRAGMENTS = 1_000_000;
/** The scan stops after this many top-level boxes that are not fragments (free, mfra, ...). */
export const MAX_OTHER_BOXES = 4096;

/** sample_is_non_sync_sample in sample_flags (8.8.3.1). */
const SAMPLE_NON_SYNC = 0x00010000;
const MAX_U32 = 0xffffffff;

/** What one traf of a moof says about its track's samples. */
export interface MoofTrack {
  readonly trackId: number;
  /** tfdt baseMediaDecodeTime, in the track's timescale. */
  readonly baseDecodeTimeTicks: number;
  /** Sum of the sample durations of every trun of the traf. */
  readonly durationTicks: number;
  readonly sampleCount: number;
  /** The first sample is a sync sample (sample_is_non_sync_sample clear); false with no samples. */
  readonly firstSampleSync: boolean;
}

/** A moof: its mfhd sequence_number and one entry per traf, in order. */
export interface MoofInfo {
  readonly sequence: number;
  readonly tracks: readonly MoofTrack[];
}

/** trex defaults (8.8.3) of a track, used where neither tfhd nor trun gives a value. */
export interface TrackDefaults {
  readonly durationTicks: number;
  readonly sampleFlags: number;
}

const parseError = (message: string, offset: number): CodecError =>
  new CodecError('ERR_FMP4_PARSE', `Cannot parse MP4: ${message}`, offset);

/** A box (4.2): where it starts, how long its header and the whole box are. */
interface BoxSpan {
  readonly type: string;
  readonly start: number;
  readonly headerBytes: number;
  readonly size: number;
}

/**
 * The header of the box at `at` in `buf`, reported at position `start`, for a box with `room`
 * bytes up to the end of its container (size 0 means all of them, 4.2). Undefined when the header
 * itself is cut off; throws when the size is smaller than the header. The size may exceed `room`.
 */
function readHeader(buf: Buffer, at: number, start: number, room: number): BoxSpan | undefined {
  if (buf.length - at < 8) return undefined;
  const small = buf.readUInt32BE(at);
  const type = buf.toString('latin1', at + 4, at + 8);
  let headerBytes = 8;
  let size = small === 0 ? room : small;
  if (small === 1) {
    if (buf.length - at < 16) return undefined;
    headerBytes = 16; // largesize; beyond 2^53 it is approximate, but still past any end
    size = buf.readUInt32BE(at + 8) * 2 ** 32 + buf.readUInt32BE(at + 12);
  }
  if (type === 'uuid') headerBytes += 16; // extended_type
  if (size < headerBytes) throw parseError(`${type} box size ${size} below its header`, start);
  return { type, start, headerBytes, size };
}

/** The boxes filling [from, to) of `buf` exactly; throws on any that does not fit. */
function children(buf: Buffer, from: number, to: number): BoxSpan[] {
  const out: BoxSpan[] = [];
  for (let at = from; at < to;) {
    const span = readHeader(buf.subarray(0, to), at, at, to - at);
    if (span === undefined || span.size > to - at) throw parseError('box past its container', at);
    out.push(span);
    at += span.size; // at least 8: every step progresses
  }
  return out;
}

/** The children of a container box. */
const inside = (buf: Buffer, span: BoxSpan): BoxSpan[] =>
  children(buf, span.start + span.headerBytes, span.start + span.size);

/** The first of `spans` of `type`; throws when there is none. */
function need(spans: readonly BoxSpan[], type: string, at: number): BoxSpan {
  const found = spans.find((s) => s.type === type);
  if (found === undefined) throw parseError(`no ${type} box`, at);
  return found;
}

/** Bounds-checked big-endian reads within one box's body. */
class Reader {
  at: number;
  private readonly buf: Buffer;
  private readonly end: number;

  constructor(buf: Buffer, span: BoxSpan) {
    this.buf = buf;
    this.at = span.start + span.headerBytes;
    this.end = span.start + span.size;
  }

  get left(): number {
    return this.end - this.at;
  }

  skip(bytes: number): number {
    const at = this.at;
    if (bytes > this.end - at) throw parseError('field past the end of its box', at);
    this.at += bytes;
    return at;
  }

  u16(): number {
    return this.buf.readUInt16BE(this.skip(2));
  }

  u32(): number {
    return this.buf.readUInt32BE(this.skip(4));
  }

  /** A u64 that must be a safe integer (a time or offset above 2^53 is not real). */
  u64(): number {
    const high = this.u32();
    if (high >= 2 ** 21) throw parseError('64-bit value above 2^53', this.at - 4);
    return high * 2 ** 32 + this.u32();
  }
}

/** A traf as parsed, with where its tfdt value sits (for rebaseMoof). */
interface TrafLayout extends MoofTrack {
  readonly tfdtAt: number;
  readonly tfdtVersion: number;
}

/** The moof at the start of `buf`, with where mfhd.sequence_number and each tfdt value sit. */
function walkMoof(
  buf: Buffer,
  defaults?: ReadonlyMap<number, TrackDefaults>,
): { sequence: number; sequenceAt: number; trafs: TrafLayout[] } {
  const moof = readHeader(buf, 0, 0, buf.length);
  if (moof?.type !== 'moof' || moof.size > buf.length) throw parseError('no complete moof', 0);
  const kids = inside(buf, moof);
  const mfhd = new Reader(buf, need(kids, 'mfhd', 0));
  mfhd.skip(4); // version, flags
  const sequenceAt = mfhd.at;
  const sequence = mfhd.u32();
  const trafs = kids.filter((k) => k.type === 'traf').map((traf) => walkTraf(buf, traf, defaults));
  return { sequence, sequenceAt, trafs };
}

/** One traf: tfhd (8.8.7), tfdt (8.8.12, required here), then every trun (8.8.8). */
function walkTraf(
  buf: Buffer,
  traf: BoxSpan,
  defaults?: ReadonlyMap<number, TrackDefaults>,
): TrafLayout {
  const kids = inside(buf, traf);
  const tfhd = new Reader(buf, need(kids, 'tfhd', traf.start));
  const tfhdFlags = tfhd.u32() & 0xffffff;
  const trackId = tfhd.u32();
  const fallback = defaults?.get(trackId);
  if (tfhdFlags & 0x01) tfhd.skip(8); // base_data_offset
  if (tfhdFlags & 0x02) tfhd.skip(4); // sample_description_index
  const defaultDuration = tfhdFlags & 0x08 ? tfhd.u32() : (fallback?.durationTicks ?? 0);
  if (tfhdFlags & 0x10) tfhd.skip(4); // default_sample_size
  const defaultFlags = tfhdFlags & 0x20 ? tfhd.u32() : (fallback?.sampleFlags ?? 0);

  const tfdt = new Reader(buf, need(kids, 'tfdt', traf.start));
  const tfdtVersion = tfdt.u32() >>> 24;
  if (tfdtVersion > 1) throw parseError(`tfdt version ${tfdtVersion}`, tfdt.at - 4);
  const tfdtAt = tfdt.at;
  const baseDecodeTimeTicks = tfdtVersion === 1 ? tfdt.u64() : tfdt.u32();

  let durationTicks = 0;
  let sampleCount = 0;
  let firstFlags: number | undefined;
  for (const span of kids.filter((k) => k.type === 'trun')) {
    const trun = new Reader(buf, span);
    const flags = trun.u32() & 0xffffff;
    const count = trun.u32();
    if (flags & 0x001) trun.skip(4); // data_offset
    const firstSampleFlags = flags & 0x004 ? trun.u32() : undefined;
    // Per sample, in this order: duration, size, flags, composition time offset.
    const fields = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f);
    if (count * fields.length * 4 > trun.left)
      throw parseError('trun samples past its end', span.start);
    if (count > 0 && sampleCount === 0)
      firstFlags = firstSampleFlags ?? (flags & 0x400 ? undefined : defaultFlags);
    for (let i = 0; i < count && fields.length > 0; i++) {
      for (const field of fields) {
        const value = trun.u32();
        if (field === 0x100) durationTicks += value;
        if (field === 0x400 && i === 0 && firstFlags === undefined) firstFlags = value;
      }
    }
    if (!(flags & 0x100)) durationTicks += defaultDuration * count;
    sampleCount += count;
  }
  if (!Number.isSafeInteger(durationTicks))
    throw parseError('traf duration above 2^53', traf.start);
  const firstSampleSync = firstFlags !== undefined && (firstFlags & SAMPLE_NON_SYNC) === 0;
  return {
    trackId,
    baseDecodeTimeTicks,
    durationTicks,
    sampleCount,
    firstSampleSync,
    tfdtAt,
    tfdtVersion,
  };
}

/**
 * Parses the moof box at the start of `moof` (bytes after it, such as its mdat, are ignored).
 * `defaults` are the trex values per track id, for fields neither tfhd nor trun carries.
 * Throws `CodecError` `ERR_FMP4_PARSE` when the moof is truncated or malformed.
 */
export function parseMoof(moof: Buffer, defaults?: ReadonlyMap<number, TrackDefaults>): MoofInfo {
  const { sequence, trafs } = walkMoof(moof, defaults);
  return {
    sequence,
    tracks: trafs.map(({ tfdtAt: _at, tfdtVersion: _version, ...track }) => track),
  };
}

/**
 * A copy of `moof` (and whatever follows it, such as its mdat) with mfhd.sequence_number set to
 * `sequence` and, for each track of `baseByTrackId`, the first traf's tfdt set to the new base
 * (later trafs of the same track move by the same amount). Tracks absent from the moof are
 * ignored. Throws `ERR_FMP4_FIELD_RANGE` when a value does not fit (tfdt version 0 is 32-bit).
 */
export function rebaseMoof(
  moof: Buffer,
  sequence: number,
  baseByTrackId: ReadonlyMap<number, number>,
): Buffer {
  const { sequenceAt, trafs } = walkMoof(moof);
  const out = Buffer.from(moof);
  out.set(uints(4, sequence), sequenceAt);
  const shift = new Map<number, number>();
  for (const traf of trafs) {
    const base = baseByTrackId.get(traf.trackId);
    if (base === undefined) continue;
    const delta = shift.get(traf.trackId) ?? base - traf.baseDecodeTimeTicks;
    shift.set(traf.trackId, delta);
    out.set(uints(traf.tfdtVersion === 1 ? 8 : 4, traf.baseDecodeTimeTicks + delta), traf.tfdtAt);
  }
  return out;
}

/** Bytes to write at `offset` of the file. */
export interface FilePatch {
  readonly offset: number;
  readonly bytes: Buffer;
}

/** An init segment for a recording, and how to write its duration once the file is complete. */
export interface RecordingInit {
  readonly bytes: Buffer;
  /** mvhd timescale (ticks per second of both duration fields; 1000 for onair). */
  readonly timescale: number;
  /** Patches within the init (at the file's start) for mvhd.duration and mehd.fragment_duration. */
  readonly patchDuration: (durationMs: number) => FilePatch[];
}

/** A duration field of `bytes` bytes; a 32-bit field that overflows says "unknown" (8.2.2.3). */
const durationField = (bytes: number, ticks: number): Buffer =>
  bytes === 8 ? uints(8, ticks) : uints(4, Math.min(ticks, MAX_U32));

/** Adds `grow` to the size field of the box at `span` in `buf` (size 0, to the end, stays). */
function growBox(buf: Buffer, span: BoxSpan, grow: number): void {
  const small = buf.readUInt32BE(span.start);
  if (small === 0) return;
  if (small === 1) {
    buf.set(uints(8, span.size + grow), span.start + 8);
  } else {
    checkField(`${span.type} size`, span.size + grow, 8, MAX_U32);
    buf.writeUInt32BE(span.size + grow, span.start);
  }
}

/**
 * A copy of `init` (ftyp + moov from encodeInitSegment) with an mehd (8.8.2, version 1) as the
 * first child of mvex, so players learn the duration of a fragmented file without reading every
 * moof; an existing mehd is kept. Throws `ERR_FMP4_PARSE` without moov, mvhd or mvex.
 */
export function recordingInit(init: Buffer): RecordingInit {
  const moov = need(children(init, 0, init.length), 'moov', 0);
  const kids = inside(init, moov);
  const mvhd = new Reader(init, need(kids, 'mvhd', moov.start));
  const mvhdVersion = mvhd.u32() >>> 24;
  mvhd.skip(mvhdVersion === 1 ? 16 : 8); // creation_time, modification_time
  const timescale = mvhd.u32();
  const mvhdDuration = {
    at: mvhd.skip(mvhdVersion === 1 ? 8 : 4),
    bytes: mvhdVersion === 1 ? 8 : 4,
  };
  if (timescale === 0) throw parseError('mvhd timescale 0', moov.start);
  const mvex = need(kids, 'mvex', moov.start);
  const existing = inside(init, mvex).find((k) => k.type === 'mehd');
  let bytes: Buffer;
  let mehd: { at: number; bytes: number };
  if (existing) {
    bytes = Buffer.from(init);
    const reader = new Reader(init, existing);
    const version = reader.u32() >>> 24;
    mehd = { at: reader.skip(version === 1 ? 8 : 4), bytes: version === 1 ? 8 : 4 };
  } else {
    const insertAt = mvex.start + mvex.headerBytes;
    const inserted = fullBox('mehd', 1, 0, uints(8, 0));
    bytes = Buffer.concat([init.subarray(0, insertAt), inserted, init.subarray(insertAt)]);
    growBox(bytes, moov, inserted.length);
    growBox(bytes, mvex, inserted.length);
    if (mvhdDuration.at >= insertAt) mvhdDuration.at += inserted.length;
    mehd = { at: insertAt + 12, bytes: 8 };
  }
  return {
    bytes,
    timescale,
    patchDuration: (durationMs: number): FilePatch[] => {
      const ticks = Math.round((durationMs * timescale) / 1000);
      checkField('duration', ticks, 0, Number.MAX_SAFE_INTEGER);
      return [mvhdDuration, mehd].map((f) => ({
        offset: f.at,
        bytes: durationField(f.bytes, ticks),
      }));
    },
  };
}

/** One tfra entry: a sync sample's decode time and its moof's offset in the file. */
export interface RandomAccessEntry {
  readonly timeTicks: number;
  readonly moofOffset: number;
  /** 1-based position of the track's traf in that moof (default 1). */
  readonly trafNumber?: number;
}

/**
 * mfra (8.8.9): one tfra (8.8.10, version 1, 1-byte traf/trun/sample numbers; trun and sample
 * are 1: the entry is the moof's first sample) per track, then mfro (8.8.11) with the mfra size,
 * so a reader finds the index from the file's last 16 bytes.
 */
export function encodeMfra(
  tracks: ReadonlyArray<{ trackId: number; entries: readonly RandomAccessEntry[] }>,
): Buffer {
  const tfras = tracks.map((track) =>
    fullBox(
      'tfra',
      1,
      0,
      uints(4, track.trackId, 0, track.entries.length), // reserved + length_size_of_* all 0
      ...track.entries.flatMap((e) => [
        uints(8, e.timeTicks, e.moofOffset),
        uints(1, e.trafNumber ?? 1, 1, 1),
      ]),
    ),
  );
  const mfroBytes = 16;
  const size = tfras.reduce((sum, t) => sum + t.length, 8 + mfroBytes);
  return box('mfra', ...tfras, fullBox('mfro', 0, 0, uints(4, size)));
}

/** One track of the moov. */
export interface Fmp4Track {
  readonly trackId: number;
  readonly kind: 'video' | 'audio';
  /** mdhd timescale: ticks per second of the track's times. */
  readonly timescale: number;
  /** The sample entry type: 'avc1', 'hvc1', 'av01', 'mp4a', 'Opus', ... */
  readonly codec: string;
  readonly width?: number;
  readonly height?: number;
  /** From the audio sample entry; the mdhd timescale when it says 0 (rates above 65535 Hz). */
  readonly sampleRate?: number;
  readonly channels?: number;
}

/** One moof + mdat pair of the file. */
export interface Fmp4Fragment {
  readonly offset: number;
  /** Bytes of the moof and its mdat. */
  readonly size: number;
  readonly moofSize: number;
  readonly sequence: number;
  readonly tracks: readonly MoofTrack[];
}

/** What scanFmp4 found. */
export interface Fmp4Index {
  /** Where the moov ends: the first fragment's offset in an onair file. */
  readonly initEnd: number;
  /** Video and audio tracks of the moov (other handlers are left out). */
  readonly tracks: readonly Fmp4Track[];
  readonly fragments: readonly Fmp4Fragment[];
  /** The offset after the last complete moof + mdat (initEnd when there is none). */
  readonly end: number;
  /** A complete mfra box was seen. */
  readonly hasMfra: boolean;
}

/** trak > tkhd, mdia > mdhd, hdlr, minf > stbl > stsd (8.3.2, 8.4.2, 8.4.3, 8.5.2). */
function parseTrak(buf: Buffer, trak: BoxSpan): Fmp4Track | undefined {
  const kids = inside(buf, trak);
  const tkhd = new Reader(buf, need(kids, 'tkhd', trak.start));
  tkhd.skip(tkhd.u32() >>> 24 === 1 ? 16 : 8); // creation, modification
  const trackId = tkhd.u32();
  const mdia = inside(buf, need(kids, 'mdia', trak.start));
  const mdhd = new Reader(buf, need(mdia, 'mdhd', trak.start));
  mdhd.skip(mdhd.u32() >>> 24 === 1 ? 16 : 8);
  const timescale = mdhd.u32();
  const hdlr = new Reader(buf, need(mdia, 'hdlr', trak.start));
  hdlr.skip(8); // version, flags, pre_defined
  const handler = buf.toString('latin1', hdlr.skip(4), hdlr.at);
  if (handler !== 'vide' && handler !== 'soun') return undefined;
  const minf = inside(buf, need(mdia, 'minf', trak.start));
  const stsd = need(inside(buf, need(minf, 'stbl', trak.start)), 'stsd', trak.start);
  // stsd: version, flags, entry_count, then the sample entries; the first one describes the track.
  const stsdBody = stsd.start + stsd.headerBytes + 8;
  const first = children(buf, stsdBody, stsd.start + stsd.size)[0];
  if (first === undefined) throw parseError('stsd without a sample entry', stsd.start);
  const entry = new Reader(buf, first);
  const base = { trackId, timescale, codec: first.type };
  if (handler === 'vide') {
    entry.skip(24); // SampleEntry (8), pre_defined, reserved, pre_defined[3] (12.1.3)
    return { ...base, kind: 'video', width: entry.u16(), height: entry.u16() };
  }
  entry.skip(16); // SampleEntry (8), reserved[2] (12.2.3)
  const channels = entry.u16();
  entry.skip(6); // samplesize, pre_defined, reserved
  const rate = entry.u32() >>> 16;
  return { ...base, kind: 'audio', channels, sampleRate: rate === 0 ? timescale : rate };
}

/** The tracks and trex defaults (8.8.3) of a whole moov box. */
function parseMoov(moov: Buffer): { tracks: Fmp4Track[]; defaults: Map<number, TrackDefaults> } {
  const kids = inside(moov, { type: 'moov', start: 0, headerBytes: 8, size: moov.length });
  const tracks = kids.flatMap((k) => (k.type === 'trak' ? (parseTrak(moov, k) ?? []) : []));
  const defaults = new Map<number, TrackDefaults>();
  const mvex = kids.find((k) => k.type === 'mvex');
  for (const trex of mvex ? inside(moov, mvex).filter((k) => k.type === 'trex') : []) {
    const r = new Reader(moov, trex);
    r.skip(4);
    const trackId = r.u32();
    r.skip(4); // default_sample_description_index
    const durationTicks = r.u32();
    r.skip(4); // default_sample_size
    defaults.set(trackId, { durationTicks, sampleFlags: r.u32() });
  }
  return { tracks, defaults };
}

/**
 * Indexes a fragmented MP4 of `size` bytes through `read` (which may return fewer bytes at the
 * end): box headers, the moov and each moof are read, never mdat payloads. A truncated or
 * malformed box after the moov, a moof without its complete mdat, or the bounds above end the
 * scan with the fragments before it. Throws `ERR_FMP4_PARSE` when there is no complete moov;
 * errors of `read` itself pass through.
 */
export async function scanFmp4(
  read: (offset: number, length: number) => Promise<Buffer>,
  size: number,
): Promise<Fmp4Index> {
  const readAll = async (at: number, length: number): Promise<Buffer | undefined> => {
    const got = (await read(at, length)).subarray(0, length);
    return got.length === length ? got : undefined;
  };
  const headerAt = async (at: number): Promise<BoxSpan | undefined> => {
    if (size - at < 8) return undefined;
    // 8 bytes, then 16 only for a largesize: never a byte of the payload (an mdat's is large).
    let head = await read(at, 8);
    if (head.length >= 8 && head.readUInt32BE(0) === 1)
      head = await read(at, Math.min(16, size - at));
    const span = readHeader(head, 0, at, size - at);
    return span && span.size <= size - at ? span : undefined;
  };
  let at = 0;
  let others = 0;
  let moov: Buffer | undefined;
  while (moov === undefined) {
    const span = await headerAt(at);
    if (span === undefined || span.type === 'moof' || ++others > MAX_OTHER_BOXES)
      throw parseError('no complete moov before the fragments', at);
    if (span.type === 'moov') {
      if (span.size > MAX_MOOV_BYTES) throw parseError(`moov of ${span.size} bytes`, at);
      moov = await readAll(at, span.size);
      if (moov === undefined) throw parseError('moov cut short', at);
    }
    at += span.size;
  }
  const { tracks, defaults } = parseMoov(moov);
  const index = { initEnd: at, tracks, fragments: [] as Fmp4Fragment[], end: at, hasMfra: false };
  try {
    while (at < size && index.fragments.length < MAX_FRAGMENTS && others < MAX_OTHER_BOXES) {
      const span = await headerAt(at);
      if (span === undefined) break;
      if (span.type !== 'moof') {
        if (span.type === 'mfra') index.hasMfra = true;
        others++;
        at += span.size;
        continue;
      }
      if (span.size > MAX_MOOF_BYTES) break;
      const moof = await readAll(at, span.size);
      const mdat = await headerAt(at + span.size);
      if (moof === undefined || mdat?.type !== 'mdat') break;
      const info = parseMoof(moof, defaults);
      const fragment = { offset: at, size: span.size + mdat.size, moofSize: span.size, ...info };
      index.fragments.push(fragment);
      at += fragment.size;
      index.end = at;
    }
  } catch (error) {
    if (!(error instanceof CodecError)) throw error; // a malformed box ends the valid part
  }
  return index;
}

/** scanFmp4 over a file: opens it, reads with positioned reads, and closes it. */
export async function scanFmp4File(path: string): Promise<Fmp4Index> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    return await scanFmp4(async (offset, length) => {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break; // the file shrank: scanFmp4 treats it as truncation
        got += bytesRead;
      }
      return buf.subarray(0, got);
    }, size);
  } finally {
    await handle.close();
  }
}
