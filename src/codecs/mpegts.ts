// MPEG-2 transport stream wire format: TS packets, PAT, PMT, PES with PTS/DTS and PCR.
// ISO/IEC 13818-1 2.4.3 (packets, adaptation field), 2.4.3.7 (PES), 2.4.4 (PSI, CRC_32 annex A).

/** Every TS packet is 188 bytes (2.4.3.2). */
export const TS_PACKET_SIZE = 188;
/** sync_byte (2.4.3.3). */
export const TS_SYNC_BYTE = 0x47;
/** PID of the program association table (table 2-3). */
export const PAT_PID = 0x0000;
/** PID of the program map table unless told otherwise (what ffmpeg uses). */
export const DEFAULT_PMT_PID = 0x1000;
/** PID carried as PCR_PID when a program has no PCR (2.4.4.9). */
export const NO_PCR_PID = 0x1fff;
/** PTS, DTS and the PCR base are 33-bit counters of a 90 kHz clock (2.4.3.5, 2.4.3.7). */
export const TIMESTAMP_MODULUS = 2 ** 33;

const HEADER_BYTES = 4;
const PAYLOAD_BYTES = TS_PACKET_SIZE - HEADER_BYTES;
const PCR_BYTES = 6;
const TABLE_ID_PAT = 0x00;
const TABLE_ID_PMT = 0x02;
const PROGRAM_NUMBER = 1;
const TRANSPORT_STREAM_ID = 1;
/** PAT section up to the CRC: 8 header bytes and one program. */
const PAT_SECTION_BYTES = 12;
/** PMT section up to the stream loop: 8 header bytes, PCR_PID, program_info_length. */
const PMT_HEADER_BYTES = 12;
const PMT_STREAM_BYTES = 5;
const CRC_BYTES = 4;
/** The most streams one single-packet PMT section can list (pointer_field + section + CRC). */
export const MAX_PMT_STREAMS = Math.floor(
  (PAYLOAD_BYTES - 1 - PMT_HEADER_BYTES - CRC_BYTES) / PMT_STREAM_BYTES,
);
/** Largest PES_packet_length; longer PES packets say 0 (unbounded, 2.4.3.7). */
const MAX_PES_PACKET_LENGTH = 0xffff;
const AF_FLAG_DISCONTINUITY = 0x80;
const AF_FLAG_RANDOM_ACCESS = 0x40;
const AF_FLAG_PCR = 0x10;
const AF_FLAG_OPCR = 0x08;
const AF_FLAG_SPLICING_POINT = 0x04;
const AF_FLAG_PRIVATE_DATA = 0x02;
const AF_FLAG_EXTENSION = 0x01;

/** CRC-32/MPEG-2 table: polynomial 0x04C11DB7, MSB first (annex A). */
const CRC_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 24;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    }
    table[i] = crc >>> 0;
  }
  return table;
})();

/**
 * CRC-32/MPEG-2 of `buf` (ISO/IEC 13818-1 annex A: polynomial 0x04C11DB7, initial value
 * 0xFFFFFFFF, no reflection, no final XOR). A section followed by its CRC_32 checks to 0.
 */
export function crc32Mpeg2(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc = (crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ byte) & 0xff] ?? 0);
  }
  return crc >>> 0;
}

/** Wraps a 90 kHz timestamp into 0 .. 2^33 - 1 (rounding to whole ticks; negatives wrap too). */
export function wrapTimestamp(ticks: number): number {
  const t = Math.round(ticks) % TIMESTAMP_MODULUS;
  return t < 0 ? t + TIMESTAMP_MODULUS : t;
}

/** Writes the 4-byte TS header (2.4.3.2) at `at`; `adaptation` says an adaptation field follows. */
function writeHeader(
  out: Buffer,
  at: number,
  header: { pid: number; start: boolean; adaptation: boolean; cc: number },
): void {
  out[at] = TS_SYNC_BYTE;
  out[at + 1] = (header.start ? 0x40 : 0) | ((header.pid >>> 8) & 0x1f);
  out[at + 2] = header.pid & 0xff;
  // transport_scrambling_control 00; adaptation_field_control 01 (payload) or 11 (both).
  out[at + 3] = (header.adaptation ? 0x30 : 0x10) | (header.cc & 0x0f);
}

/** One TS packet carrying a PSI section (pointer_field 0) with its CRC_32, stuffed with 0xFF. */
function psiPacket(pid: number, section: Buffer, cc: number): Buffer {
  const out = Buffer.alloc(TS_PACKET_SIZE, 0xff);
  writeHeader(out, 0, { pid, start: true, adaptation: false, cc });
  out[HEADER_BYTES] = 0; // pointer_field
  section.copy(out, HEADER_BYTES + 1);
  const crcAt = HEADER_BYTES + 1 + section.length;
  out.writeUInt32BE(crc32Mpeg2(section), crcAt);
  return out;
}

/** Writes table_id, section_length and the common extension header (2.4.4.3, 2.4.4.8). */
function writeSectionHeader(
  section: Buffer,
  fields: { tableId: number; idExtension: number },
): void {
  section[0] = fields.tableId;
  // section_syntax_indicator 1, '0', reserved 11; section_length counts through the CRC_32.
  section.writeUInt16BE(0xb000 | (section.length + CRC_BYTES - 3), 1);
  section.writeUInt16BE(fields.idExtension, 3);
  section[5] = 0xc1; // reserved 11, version_number 0, current_next_indicator 1
  section[6] = 0; // section_number
  section[7] = 0; // last_section_number
}

/**
 * The program association table as one TS packet (2.4.4.3): transport_stream_id 1, one program
 * (program_number 1) whose PMT is on `programMapPid`. `cc` is the packet's continuity_counter.
 */
export function encodePat(programMapPid: number, cc: number): Buffer {
  const section = Buffer.alloc(PAT_SECTION_BYTES);
  writeSectionHeader(section, { tableId: TABLE_ID_PAT, idExtension: TRANSPORT_STREAM_ID });
  section.writeUInt16BE(PROGRAM_NUMBER, 8);
  section.writeUInt16BE(0xe000 | (programMapPid & 0x1fff), 10);
  return psiPacket(PAT_PID, section, cc);
}

/** One elementary stream of a PMT. */
export interface PmtStream {
  /** stream_type (table 2-34): 0x1b H.264, 0x24 HEVC, 0x0f AAC (ADTS), 0x03/0x04 MPEG audio. */
  readonly streamType: number;
  readonly pid: number;
}

/** The program map of {@link encodePmt}. */
export interface ProgramMap {
  /** PID the PMT itself is sent on; default {@link DEFAULT_PMT_PID}. */
  readonly pmtPid?: number;
  /** PID whose adaptation fields carry the PCR; {@link NO_PCR_PID} for none. */
  readonly pcrPid: number;
  readonly streams: readonly PmtStream[];
}

/**
 * The program map table of program 1 as one TS packet (2.4.4.8), without descriptors. `cc` is the packet's continuity_counter. A single-packet section holds at most
 * {@link MAX_PMT_STREAMS} streams; more is a programming error (RangeError).
 */
export function encodePmt(program: ProgramMap, cc: number): Buffer {
  if (program.streams.length > MAX_PMT_STREAMS) {
    throw new RangeError(
      `Cannot encode PMT: ${program.streams.length} streams, one packet holds ${MAX_PMT_STREAMS}`,
    );
  }
  const section = Buffer.alloc(PMT_HEADER_BYTES + PMT_STREAM_BYTES * program.streams.length);
  writeSectionHeader(section, { tableId: TABLE_ID_PMT, idExtension: PROGRAM_NUMBER });
  section.writeUInt16BE(0xe000 | (program.pcrPid & 0x1fff), 8);
  section.writeUInt16BE(0xf000, 10); // reserved 1111, program_info_length 0
  let at = PMT_HEADER_BYTES;
  for (const stream of program.streams) {
    section[at] = stream.streamType;
    section.writeUInt16BE(0xe000 | (stream.pid & 0x1fff), at + 1);
    section.writeUInt16BE(0xf000, at + 3); // reserved 1111, ES_info_length 0
    at += PMT_STREAM_BYTES;
  }
  return psiPacket(program.pmtPid ?? DEFAULT_PMT_PID, section, cc);
}

/** One PES packet for {@link encodePes}. */
export interface PesOptions {
  readonly pid: number;
  /** stream_id: 0xE0 for the first video stream, 0xC0 for the first audio stream. */
  readonly streamId: number;
  /** 90 kHz ticks; wrapped to 33 bits. */
  readonly ptsTicks: number;
  /** 90 kHz ticks; written only when given and different from the PTS (after wrapping). */
  readonly dtsTicks?: number;
  /** The elementary stream data: one access unit (data_alignment_indicator is set). */
  readonly payload: Buffer;
  /** 90 kHz PCR base to put in the first packet's adaptation field; wrapped to 33 bits. */
  readonly pcrTicks?: number;
  /** Sets random_access_indicator in the first packet (a keyframe starts here). */
  readonly randomAccess: boolean;
  /** continuity_counter of the first packet (4 bits). */
  readonly cc: number;
}

/** Writes a 33-bit timestamp in the 5-byte PTS/DTS layout with the 4-bit `prefix` (2.4.3.7). */
function writeTimestamp(out: Buffer, at: number, prefix: number, ticks: number): void {
  const high = Math.floor(ticks / 2 ** 30); // bits 32..30
  const mid = Math.floor(ticks / 2 ** 15) & 0x7fff; // bits 29..15
  const low = ticks & 0x7fff; // bits 14..0
  out[at] = (prefix << 4) | (high << 1) | 1;
  out.writeUInt16BE((mid << 1) | 1, at + 1);
  out.writeUInt16BE((low << 1) | 1, at + 3);
}

/** Writes a program_clock_reference with the given 33-bit base and extension 0 (2.4.3.5). */
function writePcr(out: Buffer, at: number, base: number): void {
  out.writeUInt32BE(Math.floor(base / 2), at); // base bits 32..1
  out[at + 4] = ((base & 1) << 7) | 0x7e; // base bit 0, 6 reserved bits, extension bit 8
  out[at + 5] = 0; // extension bits 7..0
}

/** Builds the PES header (2.4.3.6/2.4.3.7) with PTS and optionally DTS. */
function pesHeader(options: PesOptions): Buffer {
  const pts = wrapTimestamp(options.ptsTicks);
  const dts = options.dtsTicks === undefined ? pts : wrapTimestamp(options.dtsTicks);
  const withDts = dts !== pts;
  const headerDataLength = withDts ? 10 : 5;
  const header = Buffer.allocUnsafe(9 + headerDataLength);
  header.writeUIntBE(0x000001, 0, 3); // packet_start_code_prefix
  header[3] = options.streamId;
  const pesLength = 3 + headerDataLength + options.payload.length;
  header.writeUInt16BE(pesLength > MAX_PES_PACKET_LENGTH ? 0 : pesLength, 4);
  header[6] = 0x84; // '10', not scrambled, no priority, data_alignment_indicator 1
  header[7] = withDts ? 0xc0 : 0x80; // PTS_DTS_flags
  header[8] = headerDataLength;
  writeTimestamp(header, 9, withDts ? 0b0011 : 0b0010, pts);
  if (withDts) writeTimestamp(header, 14, 0b0001, dts);
  return header;
}

/**
 * Splits one PES packet into TS packets (2.4.3.6, 2.4.3.7): PTS (and DTS when it differs), PCR
 * and random_access_indicator in the first packet's adaptation field when asked, adaptation-field
 * stuffing in the last packet. PES_packet_length is 0 when the packet exceeds 65535 bytes, which
 * the spec allows only for video streams (audio frames never come near it). Returns the packets
 * as one Buffer and the continuity_counter for the next packet on this PID.
 */
export function encodePes(options: PesOptions): { packets: Buffer; cc: number } {
  const header = pesHeader(options);
  const { payload } = options;
  const { pcrTicks } = options;
  const withPcr = pcrTicks !== undefined;
  const firstAdaptation = withPcr || options.randomAccess ? 2 + (withPcr ? PCR_BYTES : 0) : 0;
  const firstCapacity = PAYLOAD_BYTES - firstAdaptation;
  const total = header.length + payload.length;
  const count = total <= firstCapacity ? 1 : 1 + Math.ceil((total - firstCapacity) / PAYLOAD_BYTES);
  const out = Buffer.allocUnsafe(count * TS_PACKET_SIZE);
  let payloadAt = 0;
  let cc = options.cc & 0x0f;
  for (let i = 0; i < count; i++) {
    const at = i * TS_PACKET_SIZE;
    const first = i === 0;
    const data = first ? header.length + payload.length : payload.length - payloadAt;
    const minAdaptation = first ? firstAdaptation : 0;
    // Bytes of adaptation field (length byte included) so that data exactly fills the packet.
    const adaptation = Math.max(minAdaptation, PAYLOAD_BYTES - data);
    writeHeader(out, at, { pid: options.pid, start: first, adaptation: adaptation > 0, cc });
    let w = at + HEADER_BYTES;
    if (adaptation > 0) {
      out[w] = adaptation - 1; // adaptation_field_length
      if (adaptation > 1) {
        let flags = 0;
        if (first && options.randomAccess) flags |= AF_FLAG_RANDOM_ACCESS;
        if (first && withPcr) flags |= AF_FLAG_PCR;
        out[w + 1] = flags;
        let fw = w + 2;
        if (first && pcrTicks !== undefined) {
          writePcr(out, fw, wrapTimestamp(pcrTicks));
          fw += PCR_BYTES;
        }
        out.fill(0xff, fw, w + adaptation); // stuffing_byte
      }
      w += adaptation;
    }
    if (first) {
      header.copy(out, w);
      w += header.length;
    }
    const take = at + TS_PACKET_SIZE - w;
    payload.copy(out, w, payloadAt, payloadAt + take);
    payloadAt += take;
    cc = (cc + 1) & 0x0f;
  }
  return { packets: out, cc };
}

/** One TS packet as read by {@link decodeTsPacket}; `payload` is a subarray of the input. */
export interface TsPacket {
  readonly pid: number;
  readonly payloadUnitStart: boolean;
  /** transport_error_indicator: a demodulator saw uncorrectable errors in this packet. */
  readonly transportError: boolean;
  /** transport_scrambling_control is not 00 (the payload is encrypted). */
  readonly scrambled: boolean;
  /** adaptation_field_control says a payload follows (the continuity counter then counts). */
  readonly hasPayload: boolean;
  readonly cc: number;
  /** adaptation_field_length + 1 (0 when there is no adaptation field). */
  readonly adaptationBytes: number;
  readonly randomAccess: boolean;
  /** discontinuity_indicator: the continuity counter (and time base) may jump here. */
  readonly discontinuity: boolean;
  /** PCR base (90 kHz) when the adaptation field carries one. */
  readonly pcrBase?: number;
  /**
   * The adaptation field ends in stuffing bytes (2.4.3.5): the muxer had no more PES data to fill
   * this packet with, so with a payload it is the last packet of its PES.
   */
  readonly stuffed: boolean;
  readonly payload: Buffer;
}

/**
 * Reads one 188-byte TS packet (2.4.3.2, 2.4.3.4); undefined when it is not one (wrong size or
 * sync byte, adaptation field past the end). media/ts-demuxer.ts reads every packet with it.
 */
export function decodeTsPacket(packet: Buffer): TsPacket | undefined {
  if (packet.length !== TS_PACKET_SIZE || packet[0] !== TS_SYNC_BYTE) return undefined;
  const b1 = packet[1] ?? 0;
  const b3 = packet[3] ?? 0;
  const control = (b3 >>> 4) & 0x03;
  let at = HEADER_BYTES;
  let adaptationBytes = 0;
  let randomAccess = false;
  let discontinuity = false;
  let pcrBase: number | undefined;
  let stuffed = false;
  if (control & 0x02) {
    adaptationBytes = (packet[at] ?? 0) + 1;
    if (at + adaptationBytes > TS_PACKET_SIZE) return undefined;
    const flags = adaptationBytes > 1 ? (packet[at + 1] ?? 0) : 0;
    randomAccess = (flags & AF_FLAG_RANDOM_ACCESS) !== 0;
    discontinuity = (flags & AF_FLAG_DISCONTINUITY) !== 0;
    if (flags & AF_FLAG_PCR) {
      if (adaptationBytes < 2 + PCR_BYTES) return undefined;
      pcrBase = packet.readUInt32BE(at + 2) * 2 + ((packet[at + 6] ?? 0) >>> 7);
    }
    stuffed = adaptationBytes === 1 || adaptationFieldUsed(packet, at, flags) < adaptationBytes;
    at += adaptationBytes;
  }
  return {
    pid: ((b1 & 0x1f) << 8) | (packet[2] ?? 0),
    payloadUnitStart: (b1 & 0x40) !== 0,
    transportError: (b1 & 0x80) !== 0,
    scrambled: (b3 & 0xc0) !== 0,
    hasPayload: (control & 0x01) !== 0,
    cc: b3 & 0x0f,
    adaptationBytes,
    randomAccess,
    discontinuity,
    ...(pcrBase === undefined ? {} : { pcrBase }),
    stuffed,
    payload: control & 0x01 ? packet.subarray(at) : packet.subarray(TS_PACKET_SIZE),
  };
}

/**
 * Bytes of the adaptation field at `at` (its length byte included) that its flags account for;
 * the rest is stuffing. Fields that would run past the packet count as filling it (no stuffing).
 */
function adaptationFieldUsed(packet: Buffer, at: number, flags: number): number {
  let used = 2; // adaptation_field_length and the flags
  if (flags & AF_FLAG_PCR) used += PCR_BYTES;
  if (flags & AF_FLAG_OPCR) used += PCR_BYTES;
  if (flags & AF_FLAG_SPLICING_POINT) used += 1;
  if (flags & AF_FLAG_PRIVATE_DATA) used += 1 + (packet[at + used] ?? TS_PACKET_SIZE);
  if (flags & AF_FLAG_EXTENSION) used += 1 + (packet[at + used] ?? TS_PACKET_SIZE);
  return used;
}

/** A PES packet header as read by {@link decodePesHeader}. */
export interface PesHeader {
  readonly streamId: number;
  readonly pesPacketLength: number;
  readonly ptsTicks?: number;
  readonly dtsTicks?: number;
  /** Where the elementary stream data starts in the PES packet. */
  readonly payloadOffset: number;
}

/** Reads a 33-bit PTS/DTS from its 5-byte layout. */
function readTimestamp(buf: Buffer, at: number): number {
  const high = ((buf[at] ?? 0) >>> 1) & 0x07;
  const mid = buf.readUInt16BE(at + 1) >>> 1;
  const low = buf.readUInt16BE(at + 3) >>> 1;
  return high * 2 ** 30 + mid * 2 ** 15 + low;
}

/**
 * Reads the header of a PES packet with the optional-header syntax (2.4.3.6); undefined when
 * the start code is missing or the header runs past the end.
 */
export function decodePesHeader(pes: Buffer): PesHeader | undefined {
  if (pes.length < 9 || pes.readUIntBE(0, 3) !== 1) return undefined;
  const flags = (pes[7] ?? 0) >>> 6;
  const payloadOffset = 9 + (pes[8] ?? 0);
  const needed = 9 + (flags === 3 ? 10 : flags === 2 ? 5 : 0);
  if (payloadOffset > pes.length || needed > payloadOffset) return undefined;
  return {
    streamId: pes[3] ?? 0,
    pesPacketLength: pes.readUInt16BE(4),
    ...(flags & 0x02 ? { ptsTicks: readTimestamp(pes, 9) } : {}),
    ...(flags === 3 ? { dtsTicks: readTimestamp(pes, 14) } : {}),
    payloadOffset,
  };
}

/** One elementary stream of a PMT as read by {@link decodePmt}. */
export interface PmtEntry extends PmtStream {
  /** The ES_info descriptors (a subarray of the section). */
  readonly descriptors: Buffer;
}

/**
 * Checks one PSI section (from table_id through CRC_32, 2.4.4): `table_id`, the section
 * syntax indicator, section_length within `buf` and the CRC_32. Returns the section without
 * trailing bytes, or undefined.
 */
function checkedSection(buf: Buffer, tableId: number): Buffer | undefined {
  if (buf.length < 3 || buf[0] !== tableId) return undefined;
  const b1 = buf[1] ?? 0;
  if ((b1 & 0x80) === 0) return undefined; // section_syntax_indicator
  const total = 3 + (((b1 & 0x0f) << 8) | (buf[2] ?? 0));
  if (total > buf.length || total < 8 + CRC_BYTES) return undefined;
  const section = buf.subarray(0, total);
  return crc32Mpeg2(section) === 0 ? section : undefined;
}

/** Total bytes of the PSI section starting `buf` (3 + section_length), or undefined if short. */
export function psiSectionBytes(buf: Buffer): number | undefined {
  if (buf.length < 3) return undefined;
  return 3 + ((((buf[1] ?? 0) & 0x0f) << 8) | (buf[2] ?? 0));
}

/**
 * Reads a program association section (2.4.4.3, from table_id through CRC_32): the PMT PID of
 * the first program (program_number 0 is the network PID and is skipped). Undefined when the
 * section is malformed, fails its CRC or lists no program.
 */
export function decodePat(buf: Buffer): { programNumber: number; pmtPid: number } | undefined {
  const section = checkedSection(buf, TABLE_ID_PAT);
  if (section === undefined) return undefined;
  const end = section.length - CRC_BYTES;
  for (let at = 8; at + 4 <= end; at += 4) {
    const programNumber = section.readUInt16BE(at);
    if (programNumber !== 0) {
      return { programNumber, pmtPid: section.readUInt16BE(at + 2) & 0x1fff };
    }
  }
  return undefined;
}

/**
 * Reads a program map section (2.4.4.8, from table_id through CRC_32): PCR_PID and each
 * elementary stream with its descriptors (at most `maxStreams`, the rest are not read).
 * Undefined when the section is malformed or fails its CRC.
 */
export function decodePmt(
  buf: Buffer,
  maxStreams: number,
): { pcrPid: number; streams: PmtEntry[]; truncated: boolean } | undefined {
  const section = checkedSection(buf, TABLE_ID_PMT);
  if (section === undefined || section.length < PMT_HEADER_BYTES + CRC_BYTES) return undefined;
  const end = section.length - CRC_BYTES;
  const pcrPid = section.readUInt16BE(8) & 0x1fff;
  let at = PMT_HEADER_BYTES + (section.readUInt16BE(10) & 0x0fff);
  const streams: PmtEntry[] = [];
  let truncated = false;
  while (at + PMT_STREAM_BYTES <= end) {
    const infoLength = section.readUInt16BE(at + 3) & 0x0fff;
    const infoEnd = at + PMT_STREAM_BYTES + infoLength;
    if (infoEnd > end) return undefined;
    if (streams.length === maxStreams) {
      truncated = true;
      break;
    }
    streams.push({
      streamType: section[at] ?? 0,
      pid: section.readUInt16BE(at + 1) & 0x1fff,
      descriptors: section.subarray(at + PMT_STREAM_BYTES, infoEnd),
    });
    at = infoEnd;
  }
  return { pcrPid, streams, truncated };
}

/** The codecs media/ts-demuxer.ts reads from TS. */
export type TsCodec = 'h264' | 'hevc' | 'aac' | 'opus';

/** The codec of a PMT entry (by stream_type and descriptors), or undefined when it is not read. */
export function codecOfPmtEntry(stream: PmtEntry): TsCodec | undefined {
  switch (stream.streamType) {
    case 0x1b:
      return 'h264';
    case 0x24:
      return 'hevc';
    case 0x0f:
      return 'aac';
    case 0x06:
      return opusDescriptorsOf(stream.descriptors).opus ? 'opus' : undefined;
    default:
      return undefined;
  }
}

/**
 * What the ES_info descriptors say about Opus (as ffmpeg's mpegtsenc writes them): a
 * registration_descriptor (tag 0x05) with format_identifier 'Opus', and a DVB extension
 * descriptor (tag 0x7f) with tag extension 0x80 and the channel_config_code.
 */
export function opusDescriptorsOf(descriptors: Buffer): { opus: boolean; channels: number } {
  let opus = false;
  let channels = 2;
  for (let at = 0; at + 2 <= descriptors.length;) {
    const tag = descriptors[at] ?? 0;
    const length = descriptors[at + 1] ?? 0;
    const body = descriptors.subarray(at + 2, at + 2 + length);
    if (body.length < length) break;
    if (tag === 0x05 && length >= 4 && body.toString('latin1', 0, 4) === 'Opus') opus = true;
    if (tag === 0x7f && length >= 2 && body[0] === 0x80) {
      const code = body[1] ?? 2;
      // 0x80/0x81: dual mono / stereo without mapping; 1..8 the channel count.
      channels = code === 0x80 || code === 0x81 ? 2 : code;
    }
    at += 2 + length;
  }
  return { opus, channels: channels === 0 ? 2 : channels };
}
