// Benchmark for ChunkDecoder, the ingest hot path: 4096-byte chunks of ~2 Mbit/s video.
// Run: npx tsx src/codecs/rtmp-chunk-decoder.bench.ts (not part of the test suite).

import { ChunkDecoder } from './rtmp-chunk-decoder.ts';
import { encodeMessage } from './rtmp-chunk-encoder.ts';
import { MessageType, encodeUint32Payload } from './rtmp-message.ts';
import type { RtmpMessage } from './rtmp-message.ts';

const CHUNK_SIZE_BYTES = 4096;
const FRAME_RATE = 30;
const BITRATE_BPS = 2_000_000;
const DURATION_S = 10;
const ROUNDS = 400;
/** Socket reads arrive in pieces of this size, unaligned with chunks. */
const READ_SIZE_BYTES = 64 * 1024;

/** Ten seconds of video messages: a keyframe 8x the average each second, P-frames between. */
function buildStream(): Buffer {
  const average = Math.round(BITRATE_BPS / 8 / FRAME_RATE);
  const parts: Buffer[] = [
    encodeMessage(
      {
        csid: 2,
        typeId: MessageType.SetChunkSize,
        streamId: 0,
        timestamp: 0,
        payload: encodeUint32Payload(CHUNK_SIZE_BYTES),
      },
      128,
    ),
  ];
  for (let i = 0; i < DURATION_S * FRAME_RATE; i++) {
    const keyframe = i % FRAME_RATE === 0;
    const size = keyframe
      ? average * 8
      : Math.round((average * (FRAME_RATE - 8)) / (FRAME_RATE - 1));
    const msg: RtmpMessage = {
      csid: 6,
      typeId: MessageType.Video,
      streamId: 1,
      timestamp: Math.round((i * 1000) / FRAME_RATE),
      payload: Buffer.alloc(size, i & 0xff),
    };
    parts.push(encodeMessage(msg, CHUNK_SIZE_BYTES));
  }
  return Buffer.concat(parts);
}

const stream = buildStream();
const reads: Buffer[] = [];
for (let off = 0; off < stream.length; off += READ_SIZE_BYTES) {
  reads.push(stream.subarray(off, off + READ_SIZE_BYTES));
}

let messages = 0;
const startNs = process.hrtime.bigint();
for (let round = 0; round < ROUNDS; round++) {
  const decoder = new ChunkDecoder();
  for (const read of reads) messages += decoder.push(read).length;
}
const elapsedS = Number(process.hrtime.bigint() - startNs) / 1e9;
const totalMb = (stream.length * ROUNDS) / 1e6;
console.log(
  `ChunkDecoder: ${totalMb.toFixed(1)} MB in ${elapsedS.toFixed(3)} s = ${(totalMb / elapsedS).toFixed(0)} MB/s, ` +
    `${(messages / elapsedS).toFixed(0)} messages/s, ` +
    `${((totalMb * 8) / (BITRATE_BPS / 1e6) / elapsedS).toFixed(0)}x realtime (${BITRATE_BPS / 1e6} Mbit/s publishers one core could ingest)`,
);
