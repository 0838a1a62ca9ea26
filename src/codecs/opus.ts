// Opus packets (RFC 6716): how long one lasts, from its TOC byte.

/** Samples at 48 kHz of one frame for each TOC config 0..31 (RFC 6716 3.1, table 2). */
const OPUS_FRAME_SAMPLES = [
  ...[480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880], // SILK NB, MB, WB
  ...[480, 960, 480, 960], // Hybrid SWB, FB
  ...[120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960], // CELT
];
/** A packet holds at most 120 ms of audio (RFC 6716 3.2.5). */
const OPUS_MAX_PACKET_SAMPLES = 5760;

/**
 * Duration in 48 kHz samples of one Opus packet from its TOC byte and, for code 3, the frame count
 * byte (RFC 6716 3.1, 3.2). Returns 0 when the packet does not say (empty, code 3 without a count
 * or with 0 frames, more than 120 ms): the caller then falls back to the timestamp difference.
 */
export function opusPacketDurationSamples(packet: Buffer): number {
  const toc = packet[0];
  if (toc === undefined) return 0;
  const frameSamples = OPUS_FRAME_SAMPLES[toc >>> 3] ?? 0;
  const code = toc & 0x03;
  let frames = code === 0 ? 1 : 2;
  if (code === 3) {
    const count = packet[1];
    if (count === undefined) return 0;
    frames = count & 0x3f;
  }
  const samples = frames * frameSamples;
  return samples > OPUS_MAX_PACKET_SAMPLES ? 0 : samples;
}

/** An OpusHead (RFC 7845 5.1) for `channels` (1 or 2), mapping family 0, no pre-skip known. */
export function buildOpusHead(channels: number): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1; // version
  head[9] = channels;
  head.writeUInt16LE(0, 10); // pre-skip
  head.writeUInt32LE(48_000, 12); // input sample rate
  head.writeInt16LE(0, 16); // output gain
  head[18] = 0; // mapping family 0
  return head;
}
