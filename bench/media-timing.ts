// Timestamps of HLS media without demuxing it: the video track of an fMP4 init segment and the
// decode times in a moof (ISO/IEC 14496-12 8.8), and the first video PES DTS of MPEG-TS (13818-1 2.4.3).

/** One box of an ISO BMFF buffer. */
interface Box {
  readonly type: string;
  /** Where its payload starts and where the box ends. */
  readonly bodyStart: number;
  readonly end: number;
}

/** Boxes in `[start, end)`; stops at the first box that is malformed or not complete. */
function* boxes(bytes: Buffer, start: number, end: number): Generator<Box> {
  let at = start;
  while (at + 8 <= end) {
    let size = bytes.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > end) return;
      size = Number(bytes.readBigUInt64BE(at + 8));
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) return;
    yield {
      type: bytes.toString('latin1', at + 4, at + 8),
      bodyStart: at + header,
      end: at + size,
    };
    at += size;
  }
}

function child(bytes: Buffer, parent: Box, type: string): Box | undefined {
  for (const box of boxes(bytes, parent.bodyStart, parent.end)) if (box.type === type) return box;
  return undefined;
}

/** The video track of an fMP4 init segment. */
export interface VideoTrackInfo {
  readonly trackId: number;
  /** Ticks per second of its media timeline (mdhd). */
  readonly timescale: number;
}

/** The first `vide` track of an init segment (moov/trak: tkhd, mdia/mdhd, mdia/hdlr), or null. */
export function fmp4VideoTrack(init: Buffer): VideoTrackInfo | null {
  for (const moov of boxes(init, 0, init.length)) {
    if (moov.type !== 'moov') continue;
    for (const trak of boxes(init, moov.bodyStart, moov.end)) {
      if (trak.type !== 'trak') continue;
      const tkhd = child(init, trak, 'tkhd');
      const mdia = child(init, trak, 'mdia');
      if (tkhd === undefined || mdia === undefined) continue;
      const hdlr = child(init, mdia, 'hdlr');
      const mdhd = child(init, mdia, 'mdhd');
      if (hdlr === undefined || mdhd === undefined || hdlr.bodyStart + 12 > hdlr.end) continue;
      if (init.toString('latin1', hdlr.bodyStart + 8, hdlr.bodyStart + 12) !== 'vide') continue;
      // tkhd/mdhd: version 1 has 64-bit creation and modification times (8.3.2, 8.4.2).
      const v1 = (box: Box): boolean => init[box.bodyStart] === 1;
      const idAt = tkhd.bodyStart + (v1(tkhd) ? 20 : 12);
      const scaleAt = mdhd.bodyStart + (v1(mdhd) ? 20 : 12);
      if (idAt + 4 > tkhd.end || scaleAt + 4 > mdhd.end) continue;
      const timescale = init.readUInt32BE(scaleAt);
      if (timescale === 0) continue;
      return { trackId: init.readUInt32BE(idAt), timescale };
    }
  }
  return null;
}

/** Decode times of one track's samples in a moof, in its timescale. */
export interface FragmentTiming {
  /** tfdt: decode time of the first sample. */
  readonly firstDts: number;
  /** Decode time of the last sample (first + the durations of all the others). */
  readonly lastDts: number;
  readonly samples: number;
}

/** tfhd flags (8.8.7.1) and trun flags (8.8.8.1). */
const TFHD_BASE_DATA_OFFSET = 0x01;
const TFHD_SAMPLE_DESCRIPTION = 0x02;
const TFHD_DEFAULT_DURATION = 0x08;
const TRUN_DATA_OFFSET = 0x001;
const TRUN_FIRST_FLAGS = 0x004;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTS = 0x800;

/** Timing of `trackId` in the first moof of `bytes`, or null (no moof, no such traf, truncated). */
export function moofTrackTiming(bytes: Buffer, trackId: number): FragmentTiming | null {
  let moof: Box | undefined;
  for (const box of boxes(bytes, 0, bytes.length)) {
    if (box.type === 'moof') {
      moof = box;
      break;
    }
  }
  if (moof === undefined) return null;
  for (const traf of boxes(bytes, moof.bodyStart, moof.end)) {
    if (traf.type !== 'traf') continue;
    const tfhd = child(bytes, traf, 'tfhd');
    if (tfhd === undefined || tfhd.bodyStart + 8 > tfhd.end) continue;
    if (bytes.readUInt32BE(tfhd.bodyStart + 4) !== trackId) continue;
    const tfhdFlags = bytes.readUInt32BE(tfhd.bodyStart) & 0xffffff;
    let at = tfhd.bodyStart + 8;
    if (tfhdFlags & TFHD_BASE_DATA_OFFSET) at += 8;
    if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION) at += 4;
    let defaultDuration = 0;
    if (tfhdFlags & TFHD_DEFAULT_DURATION) {
      if (at + 4 > tfhd.end) return null;
      defaultDuration = bytes.readUInt32BE(at);
    }
    const tfdt = child(bytes, traf, 'tfdt');
    if (tfdt === undefined) return null;
    const v1 = bytes[tfdt.bodyStart] === 1;
    if (tfdt.bodyStart + (v1 ? 12 : 8) > tfdt.end) return null;
    const firstDts = v1
      ? Number(bytes.readBigUInt64BE(tfdt.bodyStart + 4))
      : bytes.readUInt32BE(tfdt.bodyStart + 4);
    let samples = 0;
    let elapsed = 0;
    let lastDuration = 0;
    for (const trun of boxes(bytes, traf.bodyStart, traf.end)) {
      if (trun.type !== 'trun' || trun.bodyStart + 8 > trun.end) continue;
      const flags = bytes.readUInt32BE(trun.bodyStart) & 0xffffff;
      const count = bytes.readUInt32BE(trun.bodyStart + 4);
      let p = trun.bodyStart + 8;
      if (flags & TRUN_DATA_OFFSET) p += 4;
      if (flags & TRUN_FIRST_FLAGS) p += 4;
      const stride =
        (flags & TRUN_DURATION ? 4 : 0) +
        (flags & TRUN_SIZE ? 4 : 0) +
        (flags & TRUN_FLAGS ? 4 : 0) +
        (flags & TRUN_CTS ? 4 : 0);
      if (p + count * stride > trun.end) return null;
      if (count === 0) continue;
      if (flags & TRUN_DURATION) {
        for (let i = 0; i < count; i++, p += stride) {
          lastDuration = bytes.readUInt32BE(p);
          elapsed += lastDuration;
        }
      } else {
        // No per-sample durations (and possibly no per-sample fields): count is not bounded by size.
        lastDuration = defaultDuration;
        elapsed += count * defaultDuration;
      }
      samples += count;
    }
    if (samples === 0) return null;
    return { firstDts, lastDts: firstDts + elapsed - lastDuration, samples };
  }
  return null;
}

/**
 * Bytes needed from the start of an fMP4 fragment to hold its whole first moof: a number once
 * the moof's header has arrived (top-level boxes before it, such as styp, count too), else null.
 */
export function moofEnd(bytes: Buffer): number | null {
  let at = 0;
  while (at + 8 <= bytes.length) {
    const size = bytes.readUInt32BE(at);
    if (size < 8) return null; // 64-bit or to-the-end sizes: not a leading moof or styp
    if (bytes.toString('latin1', at + 4, at + 8) === 'moof') return at + size;
    at += size;
  }
  return null;
}

const TS_PACKET_BYTES = 188;

/** A 33-bit PES timestamp at `at` (2.4.3.7: 3 + 15 + 15 bits with marker bits). */
function pesTimestamp(bytes: Buffer, at: number): number {
  const b0 = bytes[at] ?? 0;
  const high = (b0 >> 1) & 0x07;
  const mid = bytes.readUInt16BE(at + 1) >> 1;
  const low = bytes.readUInt16BE(at + 3) >> 1;
  return high * 2 ** 30 + mid * 2 ** 15 + low;
}

/**
 * The DTS (else the PTS) of the first video PES (stream_id 0xE0-0xEF) starting in `bytes`, in
 * 90 kHz ticks; null when none starts in the bytes given or they are not MPEG-TS packets.
 */
export function tsFirstVideoDts(bytes: Buffer): number | null {
  for (let p = 0; p + TS_PACKET_BYTES <= bytes.length; p += TS_PACKET_BYTES) {
    if (bytes[p] !== 0x47) return null;
    if (((bytes[p + 1] ?? 0) & 0x40) === 0) continue; // not a payload unit start
    const control = ((bytes[p + 3] ?? 0) >> 4) & 0x03;
    let q = p + 4;
    if (control & 0x02) q += 1 + (bytes[p + 4] ?? 0);
    if ((control & 0x01) === 0 || q + 19 > p + TS_PACKET_BYTES) continue;
    if (bytes[q] !== 0 || bytes[q + 1] !== 0 || bytes[q + 2] !== 1) continue;
    const streamId = bytes[q + 3] ?? 0;
    if (streamId < 0xe0 || streamId > 0xef) continue;
    const timestamps = (bytes[q + 7] ?? 0) >> 6;
    if (timestamps === 3) return pesTimestamp(bytes, q + 14);
    if (timestamps === 2) return pesTimestamp(bytes, q + 9);
    return null;
  }
  return null;
}
