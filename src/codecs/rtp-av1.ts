// The AV1 RTP payload format (AOMedia "RTP Payload Format for AV1", v1.0): payloads of one SSRC,
// in sequence order, back to temporal units. Each payload is an aggregation header (Z: the first
// OBU element continues a fragment, Y: the last one goes on in the next packet, W: the count of
// OBU elements, 0 when every element has a length, N: a new coded video sequence starts) and
// OBU elements, each with a LEB128 length but the last when W > 0. Every OBU comes out in the
// low-overhead bitstream format with obu_has_size_field = 1, without temporal delimiters, tile
// lists and padding (AV1-ISOBMFF 2.4), which is what fMP4 samples and enhanced-RTMP frames carry.
// Pure, bounded, never throws on input: a bad temporal unit is dropped whole, with the reason.
import { encodeLeb128, parseAv1SequenceHeader, readLeb128 } from './av1.ts';

const OBU_SEQUENCE_HEADER = 1;
const OBU_TEMPORAL_DELIMITER = 2;
const OBU_FRAME_HEADER = 3;
const OBU_FRAME = 6;
const OBU_TILE_LIST = 8;
const OBU_PADDING = 15;
const LEFT_OUT = new Set([OBU_TEMPORAL_DELIMITER, OBU_TILE_LIST, OBU_PADDING]);
const Z_BIT = 0x80;
const Y_BIT = 0x40;
const N_BIT = 0x08;

/** A temporal unit put back together. */
export interface Av1TemporalUnit {
  /** Its OBUs, each with its size field (the low-overhead format), no temporal delimiter. */
  readonly data: Buffer;
  /** The RTP timestamp (90 kHz) of its packets. */
  readonly timestamp: number;
  /** It has a sequence header and its first frame is a key frame (decodable on its own). */
  readonly keyframe: boolean;
  /** Its (last) sequence header OBU, with its size field; null when it has none. */
  readonly sequenceHeader: Buffer | null;
  /** A packet of it had the N bit: the first temporal unit of a coded video sequence. */
  readonly newSequence: boolean;
}

/** Bounds of one depacketizer. */
export interface Av1DepacketizerLimits {
  /** A temporal unit larger than this (as written out) is dropped whole. */
  readonly maxTemporalUnitBytes: number;
  /** OBUs per temporal unit; more and it is dropped whole. */
  readonly maxObus: number;
}

/** Why a temporal unit was dropped, counted by the caller. */
export type Av1DropReason = 'malformed' | 'fragment-lost' | 'too-large';

/** See the file comment. A temporal unit ends at the marker bit or at a new timestamp. */
export class Av1Depacketizer {
  readonly #limits: Av1DepacketizerLimits;
  #obus: Buffer[] = [];
  #bytes = 0;
  #timestamp: number | null = null;
  #sequenceHeader: Buffer | null = null;
  /** The first frame or frame header OBU's payload start, for the key frame test. */
  #firstFrame: Buffer | null = null;
  #newSequence = false;
  /** Why this temporal unit will be dropped; what else arrives for it is ignored. */
  #broken: Av1DropReason | null = null;
  #fragments: Buffer[] | null = null;
  #fragmentBytes = 0;
  #drops: Av1DropReason[] = [];

  constructor(limits: Av1DepacketizerLimits) {
    this.#limits = limits;
  }

  /** What was dropped since the last call, oldest first (at most 16 kept). */
  takeDrops(): Av1DropReason[] {
    const drops = this.#drops;
    this.#drops = [];
    return drops;
  }

  /**
   * Packets were lost before the next one: the temporal unit in progress cannot complete, and
   * between two units (the last one ended at its marker) the lost packets began the next one,
   * which is dropped then.
   */
  lost(): void {
    this.#break('fragment-lost');
    this.#fragments = null;
    this.#fragmentBytes = 0;
  }

  /**
   * One RTP payload with its timestamp and marker bit; returns the temporal units this completes
   * (one, or two when a new timestamp also ended the previous one), else an empty list. An empty
   * payload without the marker (padding only) is skipped.
   */
  push(payload: Buffer, timestamp: number, marker: boolean): Av1TemporalUnit[] {
    const done: Av1TemporalUnit[] = [];
    // A padding-only packet (bandwidth probing without RTX) is no part of any temporal unit.
    if (payload.length === 0 && !marker) return done;
    if (this.#timestamp !== null && timestamp !== this.#timestamp) {
      const previous = this.#finish();
      if (previous) done.push(previous);
    }
    this.#timestamp = timestamp;
    if (this.#broken === null) this.#payload(payload);
    if (marker) {
      const unit = this.#finish();
      if (unit) done.push(unit);
    }
    return done;
  }

  #payload(payload: Buffer): void {
    const header = payload[0];
    if (header === undefined || payload.length < 2) {
      this.#break('malformed');
      return;
    }
    const z = (header & Z_BIT) !== 0;
    const y = (header & Y_BIT) !== 0;
    const w = (header >>> 4) & 0x03;
    if ((header & N_BIT) !== 0) this.#newSequence = true;
    if (z !== (this.#fragments !== null)) {
      // A continuation without its start, or a fragment that never got its end.
      this.#fragments = null;
      this.#fragmentBytes = 0;
      this.#break('fragment-lost');
      return;
    }
    const elements: Buffer[] = [];
    let at = 1;
    while (at < payload.length) {
      if (w > 0 && elements.length === w - 1) {
        elements.push(payload.subarray(at));
        break;
      }
      const length = readLeb128(payload, at);
      if (length === undefined || at + length.bytes + length.value > payload.length) {
        this.#break('malformed');
        return;
      }
      at += length.bytes;
      elements.push(payload.subarray(at, at + length.value));
      at += length.value;
      if (elements.length > this.#limits.maxObus) {
        this.#break('too-large');
        return;
      }
    }
    if (elements.length === 0 || (w > 0 && elements.length !== w)) {
      this.#break('malformed');
      return;
    }
    for (let i = 0; i < elements.length; i++) {
      const element = elements[i] ?? Buffer.alloc(0);
      const first = i === 0;
      const last = i === elements.length - 1;
      if (first && z) {
        if (!this.#gather(element)) return;
        if (last && y) return; // a middle fragment
        const whole = Buffer.concat(this.#fragments ?? [], this.#fragmentBytes);
        this.#fragments = null;
        this.#fragmentBytes = 0;
        if (!this.#element(whole)) return;
      } else if (last && y) {
        this.#fragments = [];
        this.#fragmentBytes = 0;
        if (!this.#gather(element)) return;
      } else if (!this.#element(element)) return;
    }
  }

  /** Adds a fragment's bytes; false (and the unit broken) past the size bound. */
  #gather(bytes: Buffer): boolean {
    this.#fragmentBytes += bytes.length;
    if (this.#bytes + this.#fragmentBytes > this.#limits.maxTemporalUnitBytes) {
      this.#fragments = null;
      this.#fragmentBytes = 0;
      this.#break('too-large');
      return false;
    }
    this.#fragments?.push(bytes);
    return true;
  }

  /** One whole OBU element (one OBU, or several with size fields); false when it broke the unit. */
  #element(element: Buffer): boolean {
    let at = 0;
    if (element.length === 0) {
      this.#break('malformed');
      return false;
    }
    while (at < element.length) {
      const header = element[at] ?? 0;
      if ((header & 0x80) !== 0) {
        this.#break('malformed'); // obu_forbidden_bit
        return false;
      }
      const type = (header >>> 3) & 0x0f;
      const headerBytes = (header & 0x04) !== 0 ? 2 : 1;
      if (at + headerBytes > element.length) {
        this.#break('malformed');
        return false;
      }
      let payloadStart = at + headerBytes;
      let end = element.length;
      if ((header & 0x02) !== 0) {
        const size = readLeb128(element, payloadStart);
        if (size === undefined || payloadStart + size.bytes + size.value > element.length) {
          this.#break('malformed');
          return false;
        }
        payloadStart += size.bytes;
        end = payloadStart + size.value;
      }
      if (!LEFT_OUT.has(type)) {
        const payload = element.subarray(payloadStart, end);
        const obuHeader = Buffer.from(element.subarray(at, at + headerBytes));
        obuHeader[0] = (obuHeader[0] ?? 0) | 0x02;
        const obu = Buffer.concat([obuHeader, encodeLeb128(payload.length), payload]);
        this.#bytes += obu.length;
        if (
          this.#bytes > this.#limits.maxTemporalUnitBytes ||
          this.#obus.length >= this.#limits.maxObus
        ) {
          this.#break('too-large');
          return false;
        }
        this.#obus.push(obu);
        if (type === OBU_SEQUENCE_HEADER) this.#sequenceHeader = obu;
        if ((type === OBU_FRAME || type === OBU_FRAME_HEADER) && this.#firstFrame === null) {
          this.#firstFrame = payload;
        }
      }
      at = end;
    }
    return true;
  }

  #finish(): Av1TemporalUnit | null {
    const timestamp = this.#timestamp;
    const obus = this.#obus;
    const broken = this.#broken ?? (this.#fragments !== null ? 'fragment-lost' : null);
    const sequenceHeader = this.#sequenceHeader;
    const firstFrame = this.#firstFrame;
    const newSequence = this.#newSequence;
    const bytes = this.#bytes;
    this.#obus = [];
    this.#bytes = 0;
    this.#timestamp = null;
    this.#sequenceHeader = null;
    this.#firstFrame = null;
    this.#newSequence = false;
    this.#broken = null;
    this.#fragments = null;
    this.#fragmentBytes = 0;
    if (broken !== null) {
      this.#drop(broken);
      return null;
    }
    if (timestamp === null || obus.length === 0) return null;
    return {
      data: Buffer.concat(obus, bytes),
      timestamp,
      keyframe: isKeyFrame(sequenceHeader, firstFrame),
      sequenceHeader,
      newSequence,
    };
  }

  #break(reason: Av1DropReason): void {
    this.#broken ??= reason;
  }

  #drop(reason: Av1DropReason): void {
    if (this.#drops.length < 16) this.#drops.push(reason);
  }
}

/**
 * A sequence header and a first frame whose uncompressed header (AV1 5.9.2) says KEY_FRAME and
 * not show_existing_frame (with reduced_still_picture_header every frame is a key frame).
 */
function isKeyFrame(sequenceHeaderObu: Buffer | null, frame: Buffer | null): boolean {
  if (sequenceHeaderObu === null || frame === null) return false;
  const headerBytes = ((sequenceHeaderObu[0] ?? 0) & 0x04) !== 0 ? 2 : 1;
  const size = readLeb128(sequenceHeaderObu, headerBytes);
  if (size === undefined) return false;
  let reduced: boolean;
  try {
    const payloadStart = headerBytes + size.bytes;
    reduced = parseAv1SequenceHeader(
      sequenceHeaderObu.subarray(payloadStart, payloadStart + size.value),
    ).reducedStillPictureHeader;
  } catch {
    return false;
  }
  if (reduced) return true;
  const first = frame[0];
  if (first === undefined) return false;
  // show_existing_frame f(1) = 0, then frame_type f(2) = KEY_FRAME (0).
  return (first & 0x80) === 0 && (first & 0x60) === 0;
}
