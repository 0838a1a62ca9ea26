// RTCP feedback a receiver sends (RFC 4585 6.1-6.3): the generic NACK (PT 205, FMT 1) naming lost
// RTP sequence numbers, the picture loss indication (PT 206, FMT 1) and the full intra request
// (RFC 5104 4.3.1, PT 206, FMT 4) asking for a keyframe. Pure encoders and parsers (a viewer's
// compound RTCP is walked by parseRtcpFeedback()); libdatachannel does the SRTCP.

const RTCP_VERSION = 2;
const PT_RTPFB = 205;
const PT_PSFB = 206;
const FMT_GENERIC_NACK = 1;
const FMT_PLI = 1;
const FMT_FIR = 4;
/** FCI entries (PID + 16-bit BLP) per NACK packet: 17 x 64 bits of loss, under any MTU. */
export const MAX_NACK_ENTRIES = 64;

/** The common header of a feedback message with `fciWords` 32-bit words of FCI. */
function feedback(
  pt: number,
  fmt: number,
  senderSsrc: number,
  mediaSsrc: number,
  fciWords: number,
): Buffer {
  const out = Buffer.alloc(12 + 4 * fciWords);
  out[0] = (RTCP_VERSION << 6) | fmt;
  out[1] = pt;
  out.writeUInt16BE(2 + fciWords, 2); // length in 32-bit words minus one
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(mediaSsrc >>> 0, 8);
  return out;
}

/** A picture loss indication for `mediaSsrc` (RFC 4585 6.3.1): 12 bytes, no FCI. */
export function encodePli(senderSsrc: number, mediaSsrc: number): Buffer {
  return feedback(PT_PSFB, FMT_PLI, senderSsrc, mediaSsrc, 0);
}

/** One NACK FCI entry: a lost packet id and a bitmask of the 16 following ones (RFC 4585 6.2.1). */
export interface NackEntry {
  readonly pid: number;
  readonly blp: number;
}

/**
 * The FCI entries naming `sequenceNumbers` (16-bit, in sending order, wrap-aware): each entry
 * covers its PID and the 16 numbers after it. At most MAX_NACK_ENTRIES; the rest is left out.
 */
export function nackEntries(sequenceNumbers: readonly number[]): NackEntry[] {
  const entries: { pid: number; blp: number }[] = [];
  let current: { pid: number; blp: number } | null = null;
  for (const raw of sequenceNumbers) {
    const seq = raw & 0xffff;
    const offset = current === null ? -1 : (seq - current.pid) & 0xffff;
    if (current !== null && offset >= 1 && offset <= 16) {
      current.blp |= 1 << (offset - 1);
      continue;
    }
    if (current !== null && offset === 0) continue; // a repeat
    if (entries.length === MAX_NACK_ENTRIES) break;
    current = { pid: seq, blp: 0 };
    entries.push(current);
  }
  return entries;
}

/** A generic NACK for `sequenceNumbers` of `mediaSsrc`, or null when there is none to name. */
export function encodeNack(
  senderSsrc: number,
  mediaSsrc: number,
  sequenceNumbers: readonly number[],
): Buffer | null {
  const entries = nackEntries(sequenceNumbers);
  if (entries.length === 0) return null;
  const out = feedback(PT_RTPFB, FMT_GENERIC_NACK, senderSsrc, mediaSsrc, entries.length);
  entries.forEach((entry, i) => {
    out.writeUInt16BE(entry.pid, 12 + 4 * i);
    out.writeUInt16BE(entry.blp & 0xffff, 14 + 4 * i);
  });
  return out;
}

/** The sequence numbers a generic NACK names (the inverse of encodeNack; null if not one). */
export function parseNack(buf: Buffer): { mediaSsrc: number; sequenceNumbers: number[] } | null {
  if (buf.length < 12 || (buf[0] ?? 0) >>> 6 !== RTCP_VERSION) return null;
  if (((buf[0] ?? 0) & 0x1f) !== FMT_GENERIC_NACK || buf[1] !== PT_RTPFB) return null;
  const words = buf.readUInt16BE(2) + 1;
  if (words * 4 > buf.length || words < 3) return null;
  const sequenceNumbers: number[] = [];
  for (let at = 12; at + 4 <= words * 4; at += 4) {
    const pid = buf.readUInt16BE(at);
    const blp = buf.readUInt16BE(at + 2);
    sequenceNumbers.push(pid);
    for (let bit = 0; bit < 16; bit++) {
      if ((blp & (1 << bit)) !== 0) sequenceNumbers.push((pid + bit + 1) & 0xffff);
    }
  }
  return { mediaSsrc: buf.readUInt32BE(8), sequenceNumbers };
}

/** A full intra request for `mediaSsrc` (RFC 5104 4.3.1): one FCI entry, command `seqNr`. */
export function encodeFir(senderSsrc: number, mediaSsrc: number, seqNr: number): Buffer {
  const out = feedback(PT_PSFB, FMT_FIR, senderSsrc, 0, 2); // the header's media SSRC is 0
  out.writeUInt32BE(mediaSsrc >>> 0, 12);
  out[16] = seqNr & 0xff;
  return out;
}

/** What a receiver's (compound) RTCP asks of its sender. */
export interface RtcpFeedback {
  /** Generic NACKs: the media SSRC and the sequence numbers each names. */
  readonly nacks: readonly { readonly mediaSsrc: number; readonly sequenceNumbers: number[] }[];
  /** Media SSRCs a PLI asked a keyframe of. */
  readonly pli: readonly number[];
  /** Media SSRCs a FIR asked a keyframe of (from its FCI entries). */
  readonly fir: readonly number[];
}

/**
 * The feedback in a compound RTCP packet (RFC 3550 6.1, or RFC 5506 reduced-size): NACKs, PLIs
 * and FIRs; other packets (RR, SR, SDES, REMB...) are skipped. Null when the packet is malformed:
 * not version 2, a length running past the end, bytes left over, a feedback message too short.
 */
export function parseRtcpFeedback(buf: Buffer): RtcpFeedback | null {
  const nacks: { mediaSsrc: number; sequenceNumbers: number[] }[] = [];
  const pli: number[] = [];
  const fir: number[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length || (buf[at] ?? 0) >>> 6 !== RTCP_VERSION) return null;
    const end = at + 4 * (buf.readUInt16BE(at + 2) + 1);
    if (end > buf.length) return null;
    const fmt = (buf[at] ?? 0) & 0x1f;
    const pt = buf[at + 1];
    const packet = buf.subarray(at, end);
    if (pt === PT_RTPFB && fmt === FMT_GENERIC_NACK) {
      const nack = parseNack(packet);
      if (nack === null) return null;
      nacks.push(nack);
    } else if (pt === PT_PSFB && fmt === FMT_PLI) {
      if (packet.length < 12) return null;
      pli.push(packet.readUInt32BE(8));
    } else if (pt === PT_PSFB && fmt === FMT_FIR) {
      if (packet.length < 20) return null;
      for (let entry = 12; entry + 8 <= packet.length; entry += 8) {
        fir.push(packet.readUInt32BE(entry));
      }
    }
    at = end;
  }
  return { nacks, pli, fir };
}

const PT_SR = 200;
const PT_RR = 201;

/** One report block of a receiver report (RFC 3550 6.4.1). */
export interface ReportBlock {
  readonly ssrc: number;
  /** Fraction of packets lost since the last report, 0..255 (of 256). */
  readonly fractionLost: number;
  /** Packets lost since the start (24-bit, signed: duplicates may make it negative). */
  readonly cumulativeLost: number;
  readonly extendedHighestSequence: number;
  /** Interarrival jitter in timestamp units. */
  readonly jitter: number;
  /** The middle 32 bits of the last sender report's NTP time (0: none yet). */
  readonly lastSr: number;
  /** Since that sender report, in 1/65536 s. */
  readonly delaySinceLastSr: number;
}

/** A receiver report (PT 201) with one report block: 32 bytes. */
export function encodeReceiverReport(senderSsrc: number, block: ReportBlock): Buffer {
  const out = Buffer.alloc(32);
  out[0] = (RTCP_VERSION << 6) | 1;
  out[1] = PT_RR;
  out.writeUInt16BE(7, 2);
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(block.ssrc >>> 0, 8);
  out[12] = Math.max(0, Math.min(255, block.fractionLost));
  out.writeIntBE(Math.max(-0x800000, Math.min(0x7fffff, block.cumulativeLost)), 13, 3);
  out.writeUInt32BE(block.extendedHighestSequence >>> 0, 16);
  out.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(block.jitter))), 20);
  out.writeUInt32BE(block.lastSr >>> 0, 24);
  out.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(block.delaySinceLastSr))), 28);
  return out;
}

/** The sender's SSRC and the middle 32 bits of its NTP time, from a (compound) packet starting with an SR. */
export function parseSenderReport(buf: Buffer): { ssrc: number; ntpMiddle: number } | null {
  if (buf.length < 28 || (buf[0] ?? 0) >>> 6 !== RTCP_VERSION || buf[1] !== PT_SR) return null;
  return {
    ssrc: buf.readUInt32BE(4),
    ntpMiddle: ((buf.readUInt32BE(8) & 0xffff) * 0x10000 + (buf.readUInt32BE(12) >>> 16)) >>> 0,
  };
}

/**
 * What a receiver counts of one SSRC for its reports (RFC 3550 A.3, A.8): packets received, the
 * highest sequence number, interarrival jitter, the last sender report. Pure: times passed in.
 */
export class ReceptionStats {
  readonly #clockRate: number;
  #base: number | null = null;
  #highest = 0;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #jitter = 0;
  #lastTransit: number | null = null;
  #lastSr = 0;
  #lastSrAtMs = 0;

  constructor(clockRate: number) {
    this.#clockRate = clockRate;
  }

  /** One RTP packet as it arrived (before any reordering). */
  packet(sequenceNumber: number, timestamp: number, arrivalMs: number): void {
    const seq = sequenceNumber & 0xffff;
    if (this.#base === null) {
      this.#base = seq;
      this.#highest = seq;
    } else {
      let ext = (this.#highest & ~0xffff) + seq;
      if (ext - this.#highest > 0x8000) ext -= 0x10000;
      else if (this.#highest - ext > 0x8000) ext += 0x10000;
      if (ext > this.#highest) this.#highest = ext;
    }
    this.#received++;
    const transit = (arrivalMs * this.#clockRate) / 1000 - timestamp;
    if (this.#lastTransit !== null) {
      let d = Math.abs(transit - this.#lastTransit);
      if (d > 2 ** 31) d = Math.abs(d - 2 ** 32); // the timestamp wrapped
      this.#jitter += (d - this.#jitter) / 16;
    }
    this.#lastTransit = transit;
  }

  /** A sender report arrived (its NTP time's middle 32 bits). */
  senderReport(ntpMiddle: number, arrivalMs: number): void {
    this.#lastSr = ntpMiddle;
    this.#lastSrAtMs = arrivalMs;
  }

  /** The report block for `ssrc` now; null before the first packet. Starts a new interval. */
  report(ssrc: number, nowMs: number): ReportBlock | null {
    if (this.#base === null) return null;
    const expected = this.#highest - this.#base + 1;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    return {
      ssrc,
      fractionLost:
        expectedInterval <= 0 || lostInterval <= 0
          ? 0
          : Math.floor((lostInterval * 256) / expectedInterval),
      cumulativeLost: expected - this.#received,
      extendedHighestSequence: this.#highest >>> 0,
      jitter: this.#jitter,
      lastSr: this.#lastSr,
      delaySinceLastSr: this.#lastSr === 0 ? 0 : ((nowMs - this.#lastSrAtMs) * 65536) / 1000,
    };
  }
}
