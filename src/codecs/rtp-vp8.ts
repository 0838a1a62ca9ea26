// The VP8 RTP payload format (RFC 7741): payloads of one SSRC, in sequence order, back to frames.
// Each payload starts with a descriptor (X: an extension byte follows, N: non-reference frame,
// S: the start of a partition, PID: the partition index; the extension's I/L/T/K bits say which
// of PictureID (7 or 15 bits), TL0PICIDX and TID/KEYIDX follow), then the VP8 bytes. A frame is
// the packets of one timestamp, the first with S = 1 and PID = 0, the last with the marker bit;
// it is a keyframe when the P bit of its first byte (the frame tag, RFC 6386 9.1) is 0, and a
// keyframe's 10-byte header gives the picture size. Also the VPCodecConfigurationRecord (VP Codec
// ISO Media File Format Binding) onair makes for a VP8 track: fMP4's vpcC and enhanced RTMP's
// sequence start. Pure, bounded, never throws on input: a bad frame is dropped whole, with the
// reason.

const X_BIT = 0x80;
const S_BIT = 0x10;
const PID_MASK = 0x07;
const I_BIT = 0x80;
const L_BIT = 0x40;
const T_BIT = 0x20;
const K_BIT = 0x10;
const M_BIT = 0x80;
/** Keyframe header: 3-byte frame tag, start code 9d 01 2a, 16-bit LE width and height. */
const KEYFRAME_HEADER_BYTES = 10;

/** A frame put back together. */
export interface Vp8Frame {
  /** The VP8 frame as RFC 6386 defines it (what IVF, WebM, fMP4 and enhanced RTMP carry). */
  readonly data: Buffer;
  /** The RTP timestamp (90 kHz) of its packets. */
  readonly timestamp: number;
  readonly keyframe: boolean;
  /** The picture size from a keyframe's header; null for inter frames. */
  readonly size: { readonly width: number; readonly height: number } | null;
}

/** Bounds of one depacketizer. */
export interface Vp8DepacketizerLimits {
  /** A frame larger than this is dropped whole. */
  readonly maxFrameBytes: number;
  /** Packets per frame; more and it is dropped whole. */
  readonly maxPackets: number;
}

/** Why a frame was dropped, counted by the caller. */
export type Vp8DropReason =
  'malformed' | 'start-lost' | 'packet-lost' | 'too-large' | 'bad-keyframe';

/** See the file comment. A frame ends at the marker bit or at a new timestamp. */
export class Vp8Depacketizer {
  readonly #limits: Vp8DepacketizerLimits;
  #parts: Buffer[] = [];
  #bytes = 0;
  #timestamp: number | null = null;
  /** Why this frame will be dropped; what else arrives for it is ignored. */
  #broken: Vp8DropReason | null = null;
  #drops: Vp8DropReason[] = [];

  constructor(limits: Vp8DepacketizerLimits) {
    this.#limits = limits;
  }

  /** What was dropped since the last call, oldest first (at most 16 kept). */
  takeDrops(): Vp8DropReason[] {
    const drops = this.#drops;
    this.#drops = [];
    return drops;
  }

  /**
   * Packets were lost before the next one: the frame in progress cannot complete. Between two
   * frames nothing is broken: the next packet shows by its S bit whether its frame's start came.
   */
  lost(): void {
    if (this.#timestamp !== null) this.#break('packet-lost');
  }

  /**
   * One RTP payload with its timestamp and marker bit; returns the frames this completes (one,
   * or two when a new timestamp also ended the previous one), else an empty list. An empty
   * payload (padding only) is skipped.
   */
  push(payload: Buffer, timestamp: number, marker: boolean): Vp8Frame[] {
    const done: Vp8Frame[] = [];
    if (payload.length === 0) return done;
    if (this.#timestamp !== null && timestamp !== this.#timestamp) {
      const previous = this.#finish();
      if (previous) done.push(previous);
    }
    const first = this.#timestamp === null;
    this.#timestamp = timestamp;
    if (this.#broken === null) this.#payload(payload, first);
    if (marker) {
      const frame = this.#finish();
      if (frame) done.push(frame);
    }
    return done;
  }

  #payload(payload: Buffer, first: boolean): void {
    const start = vp8PayloadStart(payload);
    if (start === null) {
      this.#break('malformed');
      return;
    }
    const b0 = payload[0] ?? 0;
    const frameStart = (b0 & S_BIT) !== 0 && (b0 & PID_MASK) === 0;
    if (first !== frameStart) {
      // A frame whose first packet is not its start, or a second start in one frame.
      this.#break(first ? 'start-lost' : 'malformed');
      return;
    }
    const data = payload.subarray(start);
    this.#bytes += data.length;
    if (this.#bytes > this.#limits.maxFrameBytes || this.#parts.length >= this.#limits.maxPackets) {
      this.#break('too-large');
      return;
    }
    this.#parts.push(data);
  }

  #finish(): Vp8Frame | null {
    const timestamp = this.#timestamp;
    const parts = this.#parts;
    const bytes = this.#bytes;
    const broken = this.#broken;
    this.#parts = [];
    this.#bytes = 0;
    this.#timestamp = null;
    this.#broken = null;
    if (broken !== null) {
      this.#drop(broken);
      return null;
    }
    if (timestamp === null || parts.length === 0) return null;
    const data = parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts, bytes);
    const keyframe = ((data[0] ?? 1) & 0x01) === 0;
    if (!keyframe) return { data, timestamp, keyframe, size: null };
    const size = vp8KeyframeSize(data);
    if (size === null) {
      this.#drop('bad-keyframe');
      return null;
    }
    return { data, timestamp, keyframe, size };
  }

  #break(reason: Vp8DropReason): void {
    this.#broken ??= reason;
  }

  #drop(reason: Vp8DropReason): void {
    if (this.#drops.length < 16) this.#drops.push(reason);
  }
}

/**
 * Where the VP8 bytes of an RTP payload start (after the descriptor and its extension bytes);
 * null when the descriptor is truncated or nothing follows it.
 */
export function vp8PayloadStart(payload: Buffer): number | null {
  const b0 = payload[0];
  if (b0 === undefined) return null;
  let at = 1;
  if ((b0 & X_BIT) !== 0) {
    const ext = payload[at];
    if (ext === undefined) return null;
    at++;
    if ((ext & I_BIT) !== 0) {
      const pictureId = payload[at];
      if (pictureId === undefined) return null;
      at += (pictureId & M_BIT) !== 0 ? 2 : 1;
    }
    if ((ext & L_BIT) !== 0) at++;
    if ((ext & (T_BIT | K_BIT)) !== 0) at++;
  }
  return at < payload.length ? at : null;
}

/**
 * The picture size of a VP8 keyframe (RFC 6386 9.1: frame tag, start code 9d 01 2a, 14-bit width
 * and height, each with a 2-bit scale above); null when it is not one or the size is 0.
 */
export function vp8KeyframeSize(frame: Buffer): { width: number; height: number } | null {
  if (frame.length < KEYFRAME_HEADER_BYTES || ((frame[0] ?? 1) & 0x01) !== 0) return null;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return null;
  const width = frame.readUInt16LE(6) & 0x3fff;
  const height = frame.readUInt16LE(8) & 0x3fff;
  return width === 0 || height === 0 ? null : { width, height };
}

/** VP9-style level (VP Codec ISO binding: VP8 reuses the table) from the picture size alone. */
const LEVELS: readonly (readonly [number, number])[] = [
  [36_864, 10],
  [73_728, 11],
  [122_880, 20],
  [245_760, 21],
  [552_960, 30],
  [983_040, 31],
  [2_228_224, 40],
  [8_912_896, 50],
  [35_651_584, 60],
];

/**
 * The VPCodecConfigurationRecord of a VP8 track (without the vpcC box's version and flags, as
 * FFmpeg writes it in an enhanced-RTMP sequence start): profile 0, the level of its picture size,
 * 8-bit 4:2:0 (chroma sample position unspecified: 1 = collocated 4:2:0), limited range, colour
 * primaries, transfer and matrix 2 (unspecified), no codec initialization data.
 */
export function buildVp8CodecConfig(width: number, height: number): Buffer {
  const pixels = width * height;
  const level = LEVELS.find(([max]) => pixels <= max)?.[1] ?? 62;
  return Buffer.from([0, level, (8 << 4) | (1 << 1) | 0, 2, 2, 2, 0, 0]);
}

/** Profile, level and bit depth of a VPCodecConfigurationRecord; null when it is too short. */
export function parseVpCodecConfig(
  config: Buffer,
): { profile: number; level: number; bitDepth: number } | null {
  if (config.length < 8) return null;
  return { profile: config[0] ?? 0, level: config[1] ?? 0, bitDepth: (config[2] ?? 0) >>> 4 };
}

/**
 * A VP8 frame as RFC 7741 RTP payloads of at most `maxPayloadBytes` each: a descriptor with X,
 * I and the 15-bit `pictureId` (the same in every packet of the frame), S and PID 0 on the
 * first, then the frame's bytes in order. Empty for an empty frame or a bound too small.
 */
export function vp8RtpPayloads(
  frame: Buffer,
  maxPayloadBytes: number,
  pictureId: number,
): Buffer[] {
  const descriptorBytes = 4;
  const chunk = maxPayloadBytes - descriptorBytes;
  if (frame.length === 0 || chunk < 1) return [];
  const out: Buffer[] = [];
  for (let at = 0; at < frame.length; at += chunk) {
    const part = frame.subarray(at, at + chunk);
    const payload = Buffer.allocUnsafe(descriptorBytes + part.length);
    payload[0] = X_BIT | (at === 0 ? S_BIT : 0);
    payload[1] = I_BIT;
    payload[2] = M_BIT | ((pictureId >>> 8) & 0x7f);
    payload[3] = pictureId & 0xff;
    part.copy(payload, descriptorBytes);
    out.push(payload);
  }
  return out;
}
