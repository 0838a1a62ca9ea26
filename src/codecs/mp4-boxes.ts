// ISO base media file format box writers for fragmented MP4 (CMAF): ISO/IEC 14496-12 (boxes),
// 14496-14 3.1.2 (esds), Opus in ISOBMFF 4.3.2 (dOps), and one-allocation moof + mdat (8.8).

import { CodecError } from './codec-error.ts';
import { parseOpusHead } from './codec-config.ts';

/** Box header: size (u32) + type (4 characters). */
export const BOX_HEADER_BYTES = 8;
/** Full box header: box header + version (u8) + flags (u24). */
export const FULL_BOX_HEADER_BYTES = 12;
/** Largest size a 32-bit box size field holds. */
const MAX_U32 = 0xffffffff;
const MAX_I32 = 0x7fffffff;
/** The identity matrix of mvhd/tkhd (8.2.2.3), 16.16 and 2.30 fixed point. */
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];
/** ISO 639-2/T 'und' packed as three 5-bit letters (8.4.2.3). */
const LANGUAGE_UND = 0x55c4;

/** Throws `ERR_FMP4_FIELD_RANGE` unless `value` is an integer in [min, max]. */
export function checkField(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CodecError(
      'ERR_FMP4_FIELD_RANGE',
      `Cannot write MP4 field ${name}: ${value} is outside [${min}, ${max}]`,
    );
  }
}

/** Big-endian unsigned integers of 1, 2, 3, 4 or 8 bytes, one Buffer (u64 from a safe integer). */
export function uints(bytes: 1 | 2 | 3 | 4 | 8, ...values: readonly number[]): Buffer {
  const out = Buffer.alloc(bytes * values.length);
  values.forEach((value, i) => {
    if (bytes === 8) {
      checkField('u64', value, 0, Number.MAX_SAFE_INTEGER);
      out.writeUInt32BE(Math.floor(value / 2 ** 32), i * 8);
      out.writeUInt32BE(value % 2 ** 32, i * 8 + 4);
    } else {
      checkField(`u${bytes * 8}`, value, 0, 2 ** (bytes * 8) - 1);
      out.writeUIntBE(value, i * bytes, bytes);
    }
  });
  return out;
}

/** Four latin1 characters (a box type or brand). */
function fourCc(type: string): Buffer {
  if (type.length !== 4) {
    throw new CodecError(
      'ERR_FMP4_FIELD_RANGE',
      `Cannot write FourCC '${type}': needs 4 characters`,
    );
  }
  return Buffer.from(type, 'latin1');
}

/** A box: u32 size (header included), the 4-character type, then the payloads in order. */
export function box(type: string, ...payloads: readonly Buffer[]): Buffer {
  const size = payloads.reduce((sum, p) => sum + p.length, BOX_HEADER_BYTES);
  checkField(`${type} size`, size, BOX_HEADER_BYTES, MAX_U32);
  return Buffer.concat([uints(4, size), fourCc(type), ...payloads], size);
}

/** A full box: a box whose payload starts with version (u8) and flags (u24). */
export function fullBox(
  type: string,
  version: number,
  flags: number,
  ...payloads: readonly Buffer[]
): Buffer {
  checkField(`${type} version`, version, 0, 0xff);
  checkField(`${type} flags`, flags, 0, 0xffffff);
  return box(type, uints(1, version), uints(3, flags), ...payloads);
}

/** ftyp (4.3): major brand, minor version, compatible brands. */
export function encodeFtyp(
  major: string,
  minorVersion: number,
  compatible: readonly string[],
): Buffer {
  return box('ftyp', fourCc(major), uints(4, minorVersion), ...compatible.map(fourCc));
}

/** mvhd version 0 (8.2.2): no duration (fragmented), rate 1.0, volume 1.0, identity matrix. */
export function encodeMvhd(timescale: number, nextTrackId: number): Buffer {
  return fullBox(
    'mvhd',
    0,
    0,
    uints(4, 0, 0, timescale, 0), // creation, modification, timescale, duration
    uints(4, 0x00010000), // rate
    uints(2, 0x0100, 0), // volume, reserved
    uints(4, 0, 0), // reserved
    uints(4, ...UNITY_MATRIX),
    uints(4, 0, 0, 0, 0, 0, 0), // pre_defined
    uints(4, nextTrackId),
  );
}

/** tkhd version 0 (8.3.2), flags enabled | in movie; width/height in whole pixels. */
export function encodeTkhd(options: {
  trackId: number;
  audio: boolean;
  widthPx: number;
  heightPx: number;
}): Buffer {
  checkField('tkhd width', options.widthPx, 0, 0xffff);
  checkField('tkhd height', options.heightPx, 0, 0xffff);
  return fullBox(
    'tkhd',
    0,
    0x000003,
    uints(4, 0, 0, options.trackId, 0, 0), // creation, modification, track_ID, reserved, duration
    uints(4, 0, 0), // reserved
    uints(2, 0, 0, options.audio ? 0x0100 : 0, 0), // layer, alternate_group, volume, reserved
    uints(4, ...UNITY_MATRIX),
    uints(4, options.widthPx * 0x10000, options.heightPx * 0x10000),
  );
}

/** mdhd version 0 (8.4.2), language 'und'. */
export function encodeMdhd(timescale: number): Buffer {
  return fullBox('mdhd', 0, 0, uints(4, 0, 0, timescale, 0), uints(2, LANGUAGE_UND, 0));
}

/** hdlr (8.4.3) with a NUL-terminated name. */
export function encodeHdlr(handlerType: 'vide' | 'soun', name: string): Buffer {
  return fullBox(
    'hdlr',
    0,
    0,
    uints(4, 0),
    fourCc(handlerType),
    uints(4, 0, 0, 0),
    Buffer.from(`${name}\0`, 'latin1'),
  );
}

/** vmhd (12.1.2): flags 1, graphicsmode copy, opcolor 0. */
export function encodeVmhd(): Buffer {
  return fullBox('vmhd', 0, 1, uints(2, 0, 0, 0, 0));
}

/** smhd (12.2.2): balance 0. */
export function encodeSmhd(): Buffer {
  return fullBox('smhd', 0, 0, uints(2, 0, 0));
}

/** dinf with a dref holding one self-contained 'url ' entry (8.7.1, 8.7.2). */
export function encodeDinf(): Buffer {
  return box('dinf', fullBox('dref', 0, 0, uints(4, 1), fullBox('url ', 0, 1)));
}

/** stbl (8.5.1) with one sample entry and empty stts, stsc, stsz, stco (samples live in fragments). */
export function encodeStbl(sampleEntry: Buffer): Buffer {
  return box(
    'stbl',
    fullBox('stsd', 0, 0, uints(4, 1), sampleEntry),
    fullBox('stts', 0, 0, uints(4, 0)),
    fullBox('stsc', 0, 0, uints(4, 0)),
    fullBox('stsz', 0, 0, uints(4, 0, 0)),
    fullBox('stco', 0, 0, uints(4, 0)),
  );
}

/** mvex (8.8.1) with one trex per track: sample description 1, no other defaults. */
export function encodeMvex(trackIds: readonly number[]): Buffer {
  return box('mvex', ...trackIds.map((id) => fullBox('trex', 0, 0, uints(4, id, 1, 0, 0, 0))));
}

/** SampleEntry header (8.5.2.2): 6 reserved bytes and data_reference_index 1. */
const SAMPLE_ENTRY_HEADER = uints(2, 0, 0, 0, 1);

/** VisualSampleEntry (12.1.3): 72 dpi, one frame per sample, depth 24, then `children`. */
export function encodeVisualSampleEntry(
  type: string,
  size: { widthPx: number; heightPx: number },
  ...children: readonly Buffer[]
): Buffer {
  checkField('sample entry width', size.widthPx, 0, 0xffff);
  checkField('sample entry height', size.heightPx, 0, 0xffff);
  return box(
    type,
    SAMPLE_ENTRY_HEADER,
    uints(2, 0, 0), // pre_defined, reserved
    uints(4, 0, 0, 0), // pre_defined
    uints(2, size.widthPx, size.heightPx),
    uints(4, 0x00480000, 0x00480000, 0), // horizresolution, vertresolution, reserved
    uints(2, 1), // frame_count
    Buffer.alloc(32), // compressorname
    uints(2, 0x0018, 0xffff), // depth, pre_defined = -1
    ...children,
  );
}

/**
 * AudioSampleEntry (12.2.3): 16-bit samples, then `children`. The 16.16 samplerate field cannot
 * hold rates above 65535 Hz; those are written as 0 (the decoder config carries the real rate).
 */
export function encodeAudioSampleEntry(
  type: string,
  format: { channels: number; sampleRateHz: number },
  ...children: readonly Buffer[]
): Buffer {
  checkField('sample entry channelcount', format.channels, 0, 0xffff);
  const rate = format.sampleRateHz <= 0xffff ? format.sampleRateHz : 0;
  return box(
    type,
    SAMPLE_ENTRY_HEADER,
    uints(4, 0, 0), // reserved
    uints(2, format.channels, 16, 0, 0), // channelcount, samplesize, pre_defined, reserved
    uints(4, rate * 0x10000),
    ...children,
  );
}

/** An MPEG-4 descriptor (14496-1 8.3.3): tag, size in the shortest expandable form, payload. */
function descriptor(tag: number, ...payloads: readonly Buffer[]): Buffer {
  const size = payloads.reduce((sum, p) => sum + p.length, 0);
  checkField('descriptor size', size, 0, 2 ** 28 - 1);
  const sizeBytes: number[] = [size & 0x7f];
  for (let rest = size >>> 7; rest > 0; rest >>>= 7) sizeBytes.unshift(0x80 | (rest & 0x7f));
  return Buffer.concat([Buffer.from([tag, ...sizeBytes]), ...payloads]);
}

/** objectTypeIndication of MPEG-4 Audio (14496-1 table 5). */
const OTI_MPEG4_AUDIO = 0x40;
/** streamType AudioStream (5) << 2 | upStream 0 | reserved 1 (14496-1 7.2.6.6). */
const STREAM_TYPE_AUDIO_BYTE = (5 << 2) | 1;

/**
 * esds (14496-14 5.6): ES_Descriptor > DecoderConfigDescriptor (MPEG-4 Audio) >
 * DecoderSpecificInfo = the AudioSpecificConfig, and an SLConfigDescriptor (predefined 2).
 */
export function encodeEsds(audioSpecificConfig: Buffer): Buffer {
  const decoderConfig = descriptor(
    0x04,
    uints(1, OTI_MPEG4_AUDIO, STREAM_TYPE_AUDIO_BYTE),
    uints(3, 0), // bufferSizeDB
    uints(4, 0, 0), // maxBitrate, avgBitrate
    descriptor(0x05, audioSpecificConfig),
  );
  // ES_ID 0 (ignored in MP4), no dependsOn/URL/OCR flags.
  const es = descriptor(
    0x03,
    uints(2, 0),
    uints(1, 0),
    decoderConfig,
    descriptor(0x06, uints(1, 2)),
  );
  return fullBox('esds', 0, 0, es);
}

const OPUS_MAGIC = 'OpusHead';

/**
 * dOps (Opus in ISOBMFF 4.3.2) from an Opus identification header: the RFC 7845 'OpusHead' packet
 * (little-endian) is converted to dOps (version 0, big-endian fields); a dOps body is copied with
 * its version set to 0. The channel mapping table follows when ChannelMappingFamily is not 0.
 * Throws `CodecError` `ERR_OPUS_HEAD` on a malformed header.
 */
export function encodeDops(opusHead: Buffer): Buffer {
  const head = parseOpusHead(opusHead);
  const isOpusHead = opusHead.toString('latin1', 0, OPUS_MAGIC.length) === OPUS_MAGIC;
  const base = isOpusHead ? OPUS_MAGIC.length : 0;
  const gain = isOpusHead ? opusHead.readInt16LE(base + 8) : opusHead.readInt16BE(base + 8);
  const family = opusHead[base + 10] ?? 0;
  const fixed = Buffer.alloc(11);
  fixed[0] = 0; // Version
  fixed[1] = head.channels; // OutputChannelCount
  fixed.writeUInt16BE(head.preSkip, 2);
  fixed.writeUInt32BE(head.inputSampleRate, 4);
  fixed.writeInt16BE(gain, 8);
  fixed[10] = family;
  // parseOpusHead checked that StreamCount, CoupledCount and the mapping are present.
  const table =
    family === 0 ? Buffer.alloc(0) : opusHead.subarray(base + 11, base + 13 + head.channels);
  return box('dOps', fixed, table);
}

/** One sample of a track fragment run; see `Fmp4Sample` in media/fmp4-muxer.ts. */
export interface FragmentSample {
  readonly data: Buffer;
  readonly durationTicks: number;
  readonly ctsOffsetTicks: number;
  readonly keyframe: boolean;
}

/** The samples of one track in one fragment; see `Fmp4TrackRun` in media/fmp4-muxer.ts. */
export interface FragmentRun {
  readonly trackId: number;
  readonly baseDecodeTimeTicks: number;
  readonly samples: readonly FragmentSample[];
}

/** tfhd flag default-base-is-moof (8.8.7.1): data offsets count from the moof's first byte. */
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
/** trun flags (8.8.8.1): data offset, then per sample duration, size, flags (and cts offset). */
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_SAMPLE_FIELDS = 0x000100 | 0x000200 | 0x000400;
const TRUN_CTS_OFFSETS = 0x000800;
/** sample_flags (8.8.3.1): sample_depends_on 2 (depends on no other sample). */
const SAMPLE_FLAGS_SYNC = 0x02000000;
/** sample_flags: sample_depends_on 1 (depends on others) + sample_is_non_sync_sample. */
const SAMPLE_FLAGS_NON_SYNC = 0x01010000;
const MFHD_BYTES = FULL_BOX_HEADER_BYTES + 4;
const TFHD_BYTES = FULL_BOX_HEADER_BYTES + 4;
const TFDT_V1_BYTES = FULL_BOX_HEADER_BYTES + 8;
/** trun header: full box + sample_count + data_offset. */
const TRUN_HEADER_BYTES = FULL_BOX_HEADER_BYTES + 8;

/** Whether any sample of `run` has a composition offset (otherwise the trun omits the column). */
function hasCtsOffsets(run: FragmentRun): boolean {
  return run.samples.some((s) => s.ctsOffsetTicks !== 0);
}

/** Bytes of one traf: tfhd, tfdt v1 and a trun of 12 or 16 bytes per sample. */
function trafBytes(run: FragmentRun): number {
  const perSample = hasCtsOffsets(run) ? 16 : 12;
  return (
    BOX_HEADER_BYTES +
    TFHD_BYTES +
    TFDT_V1_BYTES +
    TRUN_HEADER_BYTES +
    perSample * run.samples.length
  );
}

/** Checks every field of `runs` against its box field, before anything is allocated. */
function checkRuns(sequenceNumber: number, runs: readonly FragmentRun[]): void {
  checkField('mfhd sequence_number', sequenceNumber, 0, MAX_U32);
  for (const run of runs) {
    checkField('tfhd track_ID', run.trackId, 1, MAX_U32);
    checkField('tfdt baseMediaDecodeTime', run.baseDecodeTimeTicks, 0, Number.MAX_SAFE_INTEGER);
    for (const sample of run.samples) {
      checkField('trun sample_duration', sample.durationTicks, 0, MAX_U32);
      checkField(
        'trun sample_composition_time_offset',
        sample.ctsOffsetTicks,
        -MAX_I32 - 1,
        MAX_I32,
      );
    }
  }
}

/**
 * One movie fragment (8.8.4) and its media data, in one allocation: mfhd, then per run a traf with
 * tfhd (default-base-is-moof), tfdt version 1 and a version 1 trun (data offset; per sample
 * duration, size, flags and, when any is non-zero, signed composition offsets), then one mdat
 * with the runs' samples in order. Throws `ERR_FMP4_FIELD_RANGE` when a value does not fit.
 */
export function encodeMoofMdat(sequenceNumber: number, runs: readonly FragmentRun[]): Buffer {
  checkRuns(sequenceNumber, runs);
  const moofBytes = runs.reduce((sum, run) => sum + trafBytes(run), BOX_HEADER_BYTES + MFHD_BYTES);
  let dataBytes = 0;
  for (const run of runs) for (const sample of run.samples) dataBytes += sample.data.length;
  // trun data_offset is a signed 32-bit field: the whole fragment must stay below 2 GiB.
  checkField('trun data_offset', moofBytes + BOX_HEADER_BYTES + dataBytes, 0, MAX_I32);
  const out = Buffer.allocUnsafe(moofBytes + BOX_HEADER_BYTES + dataBytes);
  let at = 0;
  const u32 = (value: number): void => {
    out.writeUInt32BE(value >>> 0, at);
    at += 4;
  };
  const header = (size: number, type: string, versionAndFlags?: number): void => {
    u32(size);
    out.write(type, at, 4, 'latin1');
    at += 4;
    if (versionAndFlags !== undefined) u32(versionAndFlags);
  };
  header(moofBytes, 'moof');
  header(MFHD_BYTES, 'mfhd', 0);
  u32(sequenceNumber);
  let dataOffset = moofBytes + BOX_HEADER_BYTES;
  for (const run of runs) {
    const cts = hasCtsOffsets(run);
    header(trafBytes(run), 'traf');
    header(TFHD_BYTES, 'tfhd', TFHD_DEFAULT_BASE_IS_MOOF);
    u32(run.trackId);
    header(TFDT_V1_BYTES, 'tfdt', 0x01000000);
    u32(Math.floor(run.baseDecodeTimeTicks / 2 ** 32));
    u32(run.baseDecodeTimeTicks % 2 ** 32);
    const trunFlags = TRUN_DATA_OFFSET | TRUN_SAMPLE_FIELDS | (cts ? TRUN_CTS_OFFSETS : 0);
    header(
      TRUN_HEADER_BYTES + (cts ? 16 : 12) * run.samples.length,
      'trun',
      0x01000000 | trunFlags,
    );
    u32(run.samples.length);
    u32(dataOffset);
    for (const sample of run.samples) {
      u32(sample.durationTicks);
      u32(sample.data.length);
      u32(sample.keyframe ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC);
      if (cts) u32(sample.ctsOffsetTicks); // two's complement: trun version 1 is signed
      dataOffset += sample.data.length;
    }
  }
  header(BOX_HEADER_BYTES + dataBytes, 'mdat');
  for (const run of runs) {
    for (const sample of run.samples) at += sample.data.copy(out, at);
  }
  return out;
}
