// MPEG-TS split into one group per video frame for bench/srt.ts: a group is the TS packets from
// one video PES start (the PMT's first video PID, payload_unit_start_indicator set) to before the
// next, with that PES's DTS (or PTS) in 90 kHz ticks. PAT and PMT are read from single packets.
import {
  PAT_PID,
  TS_PACKET_SIZE,
  decodePat,
  decodePesHeader,
  decodePmt,
  decodeTsPacket,
} from '../src/codecs/mpegts.ts';

/** PMT stream types that are video: H.264, HEVC. */
const VIDEO_STREAM_TYPES = new Set([0x1b, 0x24]);

/** One video frame's packets and its decoding time. */
export interface TsFrameGroup {
  readonly bytes: Buffer;
  /** DTS (PTS when there is none) in 90 kHz ticks, unwrapped. */
  readonly dts90k: number;
  /** random_access_indicator of the PES start packet. */
  readonly keyframe: boolean;
}

/** A TS split by {@link splitTsFrameGroups}. */
export interface TsFrameGroups {
  /** Packets before the first video PES start (PAT, PMT, ...). */
  readonly preamble: Buffer;
  readonly groups: readonly TsFrameGroup[];
  readonly videoPid: number;
}

/** Splits `ts` (whole 188-byte packets; a trailing partial packet is ignored) per video frame. */
export function splitTsFrameGroups(ts: Buffer): TsFrameGroups {
  let pmtPid = -1;
  let videoPid = -1;
  let preambleEnd = -1;
  const starts: { at: number; dts90k: number; keyframe: boolean }[] = [];
  let lastRaw: number | undefined;
  let unwrapped = 0;
  for (let at = 0; at + TS_PACKET_SIZE <= ts.length; at += TS_PACKET_SIZE) {
    const packet = decodeTsPacket(ts.subarray(at, at + TS_PACKET_SIZE));
    if (packet === undefined || !packet.payloadUnitStart) continue;
    const section = packet.payload.subarray(1 + (packet.payload[0] ?? 0));
    if (packet.pid === PAT_PID) {
      pmtPid = decodePat(section)?.pmtPid ?? pmtPid;
    } else if (packet.pid === pmtPid && videoPid < 0) {
      const pmt = decodePmt(section, 16);
      videoPid = pmt?.streams.find((s) => VIDEO_STREAM_TYPES.has(s.streamType))?.pid ?? -1;
    } else if (packet.pid === videoPid) {
      const header = decodePesHeader(packet.payload);
      const raw = header?.dtsTicks ?? header?.ptsTicks;
      if (raw === undefined) continue;
      const delta = lastRaw === undefined ? 0 : ((raw - lastRaw + 2 ** 32) % 2 ** 33) - 2 ** 32;
      unwrapped = lastRaw === undefined ? raw : unwrapped + delta;
      lastRaw = raw;
      if (preambleEnd < 0) preambleEnd = at;
      starts.push({ at, dts90k: unwrapped, keyframe: packet.randomAccess });
    }
  }
  const end = ts.length - (ts.length % TS_PACKET_SIZE);
  const groups = starts.map((start, i) => ({
    bytes: ts.subarray(start.at, starts[i + 1]?.at ?? end),
    dts90k: start.dts90k,
    keyframe: start.keyframe,
  }));
  return { preamble: ts.subarray(0, Math.max(0, preambleEnd)), groups, videoPid };
}
