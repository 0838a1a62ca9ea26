// The H.264 RTP payload format (RFC 6184), non-interleaved mode (packetization-mode=1, what
// WebRTC uses): single NAL unit packets, STAP-A aggregates (5.7.1) and FU-A fragments (5.8).
// The packetizer makes the payloads of one access unit; the depacketizer puts received payloads
// back into access units. Pure, bounded, never throws on input.

const NAL_TYPE_MASK = 0x1f;
const NRI_MASK = 0x60;
const NAL_AUD = 9;
const NAL_FILLER = 12;
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;
const STAP_A = 24;
const FU_A = 28;
const FU_START = 0x80;
const FU_END = 0x40;

/** NAL units of an AVCC frame (`lengthSize`-byte lengths); a truncated tail is dropped. */
export function nalUnitsOfAvcc(frame: Buffer, lengthSize: number): Buffer[] {
  const units: Buffer[] = [];
  for (let at = 0; at + lengthSize <= frame.length;) {
    const length = frame.readUIntBE(at, lengthSize);
    at += lengthSize;
    if (at + length > frame.length) break;
    if (length > 0) units.push(frame.subarray(at, at + length));
    at += length;
  }
  return units;
}

/** NAL units as one AVCC frame with 4-byte lengths. */
export function avccOf(units: readonly Buffer[]): Buffer {
  let size = 0;
  for (const unit of units) size += 4 + unit.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const unit of units) {
    out.writeUInt32BE(unit.length, at);
    at += 4 + unit.copy(out, at + 4);
  }
  return out;
}

/**
 * The RTP payloads of one access unit, in order (the last one carries the marker bit). AUD and
 * filler NAL units are left out. When `keyframe` and the unit has no SPS, `parameterSets` (SPS,
 * PPS) go first, in one STAP-A when they fit together. A NAL unit over `maxPayloadBytes` is split
 * into FU-A fragments; `maxPayloadBytes` must be at least 3.
 */
export function h264RtpPayloads(
  units: readonly Buffer[],
  parameterSets: readonly Buffer[],
  keyframe: boolean,
  maxPayloadBytes: number,
): Buffer[] {
  const out: Buffer[] = [];
  const media = units.filter((unit) => {
    const type = (unit[0] ?? 0) & NAL_TYPE_MASK;
    return type !== NAL_AUD && type !== NAL_FILLER;
  });
  const hasSps = media.some((unit) => ((unit[0] ?? 0) & NAL_TYPE_MASK) === NAL_SPS);
  if (keyframe && !hasSps && parameterSets.length > 0) {
    const stapBytes = parameterSets.reduce((sum, set) => sum + 2 + set.length, 1);
    if (parameterSets.length > 1 && stapBytes <= maxPayloadBytes) {
      out.push(stapA(parameterSets));
    } else {
      for (const set of parameterSets) pushNal(out, set, maxPayloadBytes);
    }
  }
  for (const unit of media) pushNal(out, unit, maxPayloadBytes);
  return out;
}

function stapA(units: readonly Buffer[]): Buffer {
  let nri = 0;
  let size = 1;
  for (const unit of units) {
    nri = Math.max(nri, (unit[0] ?? 0) & NRI_MASK);
    size += 2 + unit.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = nri | STAP_A;
  let at = 1;
  for (const unit of units) {
    out.writeUInt16BE(unit.length, at);
    at += 2 + unit.copy(out, at + 2);
  }
  return out;
}

function pushNal(out: Buffer[], unit: Buffer, maxPayloadBytes: number): void {
  if (unit.length <= maxPayloadBytes) {
    out.push(unit);
    return;
  }
  const header = unit[0] ?? 0;
  const indicator = (header & (0x80 | NRI_MASK)) | FU_A;
  const type = header & NAL_TYPE_MASK;
  const chunk = maxPayloadBytes - 2;
  for (let at = 1; at < unit.length; at += chunk) {
    const end = Math.min(unit.length, at + chunk);
    const fragment = Buffer.allocUnsafe(2 + end - at);
    fragment[0] = indicator;
    fragment[1] = (at === 1 ? FU_START : 0) | (end === unit.length ? FU_END : 0) | type;
    unit.copy(fragment, 2, at, end);
    out.push(fragment);
  }
}

/** An access unit put back together. */
export interface H264AccessUnit {
  readonly units: readonly Buffer[];
  /** The RTP timestamp (90 kHz) of its packets. */
  readonly timestamp: number;
  /** It has an IDR slice. */
  readonly keyframe: boolean;
}

/** Bounds of one depacketizer. */
export interface H264DepacketizerLimits {
  /** An access unit larger than this is dropped whole. */
  readonly maxAccessUnitBytes: number;
  /** NAL units per access unit; more and it is dropped whole. */
  readonly maxUnits: number;
}

/** Why a payload or an access unit was dropped, counted by the caller. */
export type H264DropReason = 'malformed' | 'unsupported' | 'fragment-lost' | 'too-large';

/**
 * Payloads of one SSRC, in sequence order, back to access units. An access unit ends at the
 * marker bit or when a packet of a new timestamp arrives. After a loss (call lost()), the
 * fragmented NAL unit in progress is dropped and the rest of the access unit kept.
 */
export class H264Depacketizer {
  readonly #limits: H264DepacketizerLimits;
  #units: Buffer[] = [];
  #bytes = 0;
  #timestamp: number | null = null;
  #keyframe = false;
  #tooLarge = false;
  #fragments: Buffer[] | null = null;
  #fragmentBytes = 0;
  /** Set for what was dropped since the last call of takeDrops(). */
  #drops: H264DropReason[] = [];

  constructor(limits: H264DepacketizerLimits) {
    this.#limits = limits;
  }

  /** What was dropped since the last call, oldest first (at most 16 kept). */
  takeDrops(): H264DropReason[] {
    const drops = this.#drops;
    this.#drops = [];
    return drops;
  }

  /** Packets were lost before the next one: the NAL unit being reassembled cannot complete. */
  lost(): void {
    if (this.#fragments !== null) this.#drop('fragment-lost');
    this.#fragments = null;
    this.#fragmentBytes = 0;
  }

  /**
   * One RTP payload with its timestamp and marker bit; returns the access units this completes
   * (one, or two when a new timestamp also ended the previous one), else an empty list.
   */
  push(payload: Buffer, timestamp: number, marker: boolean): H264AccessUnit[] {
    const done: H264AccessUnit[] = [];
    if (this.#timestamp !== null && timestamp !== this.#timestamp) {
      const previous = this.#finish();
      if (previous) done.push(previous);
    }
    this.#timestamp = timestamp;
    this.#payload(payload);
    if (marker) {
      const unit = this.#finish();
      if (unit) done.push(unit);
    }
    return done;
  }

  #payload(payload: Buffer): void {
    if (this.#tooLarge) return; // the rest of an access unit already dropped
    const header = payload[0];
    if (header === undefined || (header & 0x80) !== 0) {
      this.#drop('malformed');
      return;
    }
    const type = header & NAL_TYPE_MASK;
    if (type >= 1 && type <= 23) {
      this.#add(payload);
      return;
    }
    if (type === STAP_A) {
      for (let at = 1; at < payload.length;) {
        if (at + 2 > payload.length) {
          this.#drop('malformed');
          return;
        }
        const size = payload.readUInt16BE(at);
        at += 2;
        if (size === 0 || at + size > payload.length) {
          this.#drop('malformed');
          return;
        }
        this.#add(payload.subarray(at, at + size));
        at += size;
      }
      return;
    }
    if (type === FU_A) {
      this.#fragment(payload, header);
      return;
    }
    this.#drop('unsupported'); // STAP-B, MTAP, FU-B: interleaved mode only
  }

  #fragment(payload: Buffer, indicator: number): void {
    const fu = payload[1];
    if (fu === undefined || payload.length < 3) {
      this.#drop('malformed');
      return;
    }
    if ((fu & FU_START) !== 0) {
      if (this.#fragments !== null) this.#drop('fragment-lost');
      const nalHeader = Buffer.from([(indicator & (0x80 | NRI_MASK)) | (fu & NAL_TYPE_MASK)]);
      this.#fragments = [nalHeader];
      this.#fragmentBytes = 1;
    } else if (this.#fragments === null) {
      this.#drop('fragment-lost'); // its start was lost
      return;
    }
    const data = payload.subarray(2);
    this.#fragmentBytes += data.length;
    if (this.#bytes + this.#fragmentBytes > this.#limits.maxAccessUnitBytes) {
      this.#fragments = null;
      this.#fragmentBytes = 0;
      this.#tooLarge = true;
      return;
    }
    this.#fragments.push(data);
    if ((fu & FU_END) !== 0) {
      const unit = Buffer.concat(this.#fragments, this.#fragmentBytes);
      this.#fragments = null;
      this.#fragmentBytes = 0;
      this.#add(unit);
    }
  }

  #add(unit: Buffer): void {
    if (this.#tooLarge) return;
    this.#bytes += unit.length;
    if (
      this.#bytes > this.#limits.maxAccessUnitBytes ||
      this.#units.length >= this.#limits.maxUnits
    ) {
      this.#tooLarge = true;
      return;
    }
    if (((unit[0] ?? 0) & NAL_TYPE_MASK) === NAL_IDR) this.#keyframe = true;
    this.#units.push(unit);
  }

  #finish(): H264AccessUnit | null {
    const timestamp = this.#timestamp;
    const units = this.#units;
    const keyframe = this.#keyframe;
    const tooLarge = this.#tooLarge;
    if (this.#fragments !== null) this.#drop('fragment-lost');
    this.#units = [];
    this.#bytes = 0;
    this.#keyframe = false;
    this.#tooLarge = false;
    this.#fragments = null;
    this.#fragmentBytes = 0;
    this.#timestamp = null;
    if (tooLarge) {
      this.#drop('too-large');
      return null;
    }
    if (timestamp === null || units.length === 0) return null;
    return { units, timestamp, keyframe };
  }

  #drop(reason: H264DropReason): void {
    if (this.#drops.length < 16) this.#drops.push(reason);
  }
}

/** True when the NAL units include SPS and PPS (a decoder can start from them). */
export function hasParameterSets(units: readonly Buffer[]): boolean {
  let sps = false;
  let pps = false;
  for (const unit of units) {
    const type = (unit[0] ?? 0) & NAL_TYPE_MASK;
    sps ||= type === NAL_SPS;
    pps ||= type === NAL_PPS;
  }
  return sps && pps;
}
