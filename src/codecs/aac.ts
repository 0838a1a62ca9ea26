// AAC AudioSpecificConfig: object type, sampling frequency and channel configuration.
// ISO/IEC 14496-3 1.6.2.1 (syntax), tables 1.16 (sampling frequency index) and 1.19 (channels).

import { CodecError } from './codec-error.ts';

/** The leading fields of an AudioSpecificConfig. */
export interface AudioSpecificConfig {
  /** audioObjectType with the escape resolved (1 Main, 2 LC, 5 SBR, 29 PS...). */
  readonly objectType: number;
  /** Sampling frequency in Hz (from the table, or the explicit 24-bit value). */
  readonly sampleRate: number;
  /** Output channels; 0 when channelConfiguration is 0 (a program_config_element says). */
  readonly channels: number;
  /** samplingFrequencyIndex as sent (15 = explicit rate). */
  readonly frequencyIndex: number;
}

/** Table 1.16; indices 13 and 14 are reserved, 15 means an explicit 24-bit rate follows. */
const SAMPLE_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
const EXPLICIT_RATE_INDEX = 15;
const OBJECT_TYPE_ESCAPE = 31;
/** Table 1.19 channelConfiguration -> channels; 8-10 and 15 are reserved (absent here). */
const CHANNELS = new Map<number, number>([
  [0, 0],
  [1, 1],
  [2, 2],
  [3, 3],
  [4, 4],
  [5, 5],
  [6, 6],
  [7, 8],
  [11, 7],
  [12, 8],
  [13, 24],
  [14, 8],
]);

/**
 * Parses the leading fields of an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): the object type
 * escape (31 -> 32 + 6 bits), the explicit 24-bit rate (index 15) and the channel configuration.
 * Throws `CodecError` `ERR_AAC_CONFIG` when too short or on reserved values.
 */
export function parseAudioSpecificConfig(buf: Buffer): AudioSpecificConfig {
  let bitPos = 0;
  const read = (n: number): number => {
    if (bitPos + n > buf.length * 8) {
      throw new CodecError(
        'ERR_AAC_CONFIG',
        `Cannot parse AudioSpecificConfig: needs ${Math.ceil((bitPos + n) / 8)} bytes, has ${buf.length}`,
        bitPos >>> 3,
      );
    }
    let value = 0;
    for (let i = 0; i < n; i++, bitPos++) {
      value = value * 2 + (((buf[bitPos >>> 3] ?? 0) >>> (7 - (bitPos & 7))) & 1);
    }
    return value;
  };
  let objectType = read(5);
  if (objectType === OBJECT_TYPE_ESCAPE) objectType = 32 + read(6);
  if (objectType === 0)
    throw new CodecError('ERR_AAC_CONFIG', 'Cannot parse AudioSpecificConfig: object type 0', 0);
  const frequencyIndex = read(4);
  let sampleRate: number;
  if (frequencyIndex === EXPLICIT_RATE_INDEX) {
    sampleRate = read(24);
    if (sampleRate === 0)
      throw new CodecError('ERR_AAC_CONFIG', 'Cannot parse AudioSpecificConfig: sample rate 0', 0);
  } else {
    const rate = SAMPLE_RATES[frequencyIndex];
    if (rate === undefined) {
      throw new CodecError(
        'ERR_AAC_CONFIG',
        `Cannot parse AudioSpecificConfig: samplingFrequencyIndex ${frequencyIndex} is reserved`,
        0,
      );
    }
    sampleRate = rate;
  }
  const channelConfig = read(4);
  const channels = CHANNELS.get(channelConfig);
  if (channels === undefined) {
    throw new CodecError(
      'ERR_AAC_CONFIG',
      `Cannot parse AudioSpecificConfig: channelConfiguration ${channelConfig} is reserved`,
      bitPos >>> 3,
    );
  }
  return { objectType, sampleRate, channels, frequencyIndex };
}

const OBJECT_TYPE_NAMES = new Map<number, string>([
  [1, 'Main'],
  [2, 'LC'],
  [5, 'HE-AAC (SBR)'],
  [29, 'HE-AACv2'],
]);

/** AAC audio object type as a profile name ('LC'), or the number as a string when unnamed. */
export function aacObjectTypeName(t: number): string {
  return OBJECT_TYPE_NAMES.get(t) ?? String(t);
}

const ADTS_HEADER_BYTES = 7;
/** aac_frame_length is 13 bits and counts the header. */
const MAX_ADTS_FRAME_BYTES = 0x1fff;

/**
 * Prepends a 7-byte ADTS header (ISO/IEC 14496-3 1.A.2, no CRC) to one raw AAC access unit;
 * `adtsFixed` holds its first four bytes (profile, sampling index, channels). Empty when the
 * unit is too long for aac_frame_length.
 */
export function toAdts(payload: Buffer, adtsFixed: Buffer): Buffer {
  const frameLength = ADTS_HEADER_BYTES + payload.length;
  if (frameLength > MAX_ADTS_FRAME_BYTES) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(frameLength);
  adtsFixed.copy(out, 0);
  out[3] = (adtsFixed[3] ?? 0) | (frameLength >>> 11);
  out[4] = (frameLength >>> 3) & 0xff;
  out[5] = ((frameLength & 0x07) << 5) | 0x1f; // adts_buffer_fullness 0x7FF: variable rate
  out[6] = 0xfc; // rest of the fullness, number_of_raw_data_blocks_in_frame 0
  payload.copy(out, ADTS_HEADER_BYTES);
  return out;
}

/**
 * The first four bytes of the ADTS header for a track's AudioSpecificConfig (what toAdts needs),
 * or undefined when ADTS cannot describe it: object types other than Main/LC/SSR/LTP and SBR/PS
 * over them, an explicit sample rate, channelConfiguration above 7. Throws CodecError for a
 * config too short to parse.
 */
export function adtsFixedHeaderOf(config: Buffer): Buffer | undefined {
  const asc = parseAudioSpecificConfig(config);
  // SBR/PS (5, 29): ADTS carries the LC core at the core rate; decoders find SBR implicitly.
  const core = asc.objectType === 5 || asc.objectType === 29 ? 2 : asc.objectType;
  if (core < 1 || core > 4 || asc.frequencyIndex > 12) return undefined;
  const channelConfig = ((config[1] ?? 0) >>> 3) & 0x0f; // bits 9..12 (no escapes here)
  if (channelConfig > 7) return undefined;
  return Buffer.from([
    0xff,
    0xf1, // syncword, MPEG-4, layer 0, protection_absent
    ((core - 1) << 6) | (asc.frequencyIndex << 2) | (channelConfig >>> 2),
    (channelConfig & 0x03) << 6,
  ]);
}

/** Bytes an AdtsFrameReader holds at most: one frame not yet complete. */
const MAX_ADTS_PENDING_BYTES = 2 * MAX_ADTS_FRAME_BYTES;

/**
 * ADTS (ISO/IEC 14496-3 1.A.2) to raw AAC access units, for the AAC that ffmpeg writes on its
 * stdout. Streaming and bounded: bytes arrive in any split and nothing beyond one incomplete
 * frame is kept. Throws CodecError `ERR_ADTS` on a lost syncword or a frame shorter than its
 * header: a pipe from an encoder does not resync, the caller restarts it.
 */
export class AdtsFrameReader {
  #pending: Buffer = Buffer.alloc(0);

  /** Takes the next bytes and returns the raw frames (headers stripped) they complete. */
  push(chunk: Buffer): Buffer[] {
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    while (buf.length - offset >= ADTS_HEADER_BYTES) {
      if (buf[offset] !== 0xff || ((buf[offset + 1] ?? 0) & 0xf6) !== 0xf0) {
        throw new CodecError('ERR_ADTS', 'ADTS syncword lost', offset);
      }
      const headerBytes = ((buf[offset + 1] ?? 0) & 0x01) === 1 ? 7 : 9;
      const length =
        (((buf[offset + 3] ?? 0) & 0x03) << 11) |
        ((buf[offset + 4] ?? 0) << 3) |
        ((buf[offset + 5] ?? 0) >>> 5);
      if (length < headerBytes) {
        throw new CodecError('ERR_ADTS', 'ADTS frame shorter than its header', offset);
      }
      if (buf.length - offset < length) break;
      frames.push(buf.subarray(offset + headerBytes, offset + length));
      offset += length;
    }
    const rest = buf.subarray(offset);
    if (rest.length > MAX_ADTS_PENDING_BYTES) {
      throw new CodecError('ERR_ADTS', 'ADTS frame too long', offset);
    }
    this.#pending = rest.length === 0 ? Buffer.alloc(0) : Buffer.from(rest);
    return frames;
  }
}
