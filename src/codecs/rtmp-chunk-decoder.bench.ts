// Benchmark for ChunkDecoder, the ingest hot path: ~2 Mbit/s video in 4096-byte chunks (what
// OBS and ffmpeg announce) and in 128-byte chunks (the default, for clients that never change it).
// Run: npx tsx src/codecs/rtmp-chunk-decoder.bench.ts (not part of the test suite).

import { ChunkDecoder } from './rtmp-chunk-decoder.ts';
import { encodeMessage } from './rtmp-chunk-encoder.ts';
import { MessageType, encodeUint32Payload } from './rtmp-message.ts';
import type { RtmpMessage } from './rtmp-message.ts';

/** Chunk sizes to run, each with its number of rounds (about the same time each). */
const CASES = [
  { chunkSizeBytes: 4096, rounds: 400 },
  { chunkSizeBytes: 128, rounds: 100 },
] as const;
const FRAME_RATE = 30;
const BITRATE_BPS = 2_000_000;
const DURATION_S = 10;
/** Socket reads arrive in pieces of this size, unaligned with chunks, each its own memory. */
const READ_SIZE_BYTES = 64 * 1024;

/** Ten seconds of video messages: a keyframe 8x the average each second, P-frames between. */
function buildStream(chunkSizeBytes: number): Buffer {
  const average = Math.round(BITRATE_BPS / 8 / FRAME_RATE);
  const parts: Buffer[] = [
    encodeMessage(
      {
        csid: 2,
        typeId: MessageType.SetChunkSize,
        streamId: 0,
        timestamp: 0,
        payload: encodeUint32Payload(chunkSizeBytes),
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
    parts.push(encodeMessage(msg, chunkSizeBytes));
  }
  return Buffer.concat(parts);
}

for (const { chunkSizeBytes, rounds } of CASES) {
  const stream = buildStream(chunkSizeBytes);
  // Copies, as a socket delivers them: each read is its own ArrayBuffer of the bytes read.
  const reads: Buffer[] = [];
  for (let off = 0; off < stream.length; off += READ_SIZE_BYTES) {
    reads.push(Buffer.from(stream.subarray(off, off + READ_SIZE_BYTES)));
  }

  let messages = 0;
  const startNs = process.hrtime.bigint();
  for (let round = 0; round < rounds; round++) {
    const decoder = new ChunkDecoder();
    for (const read of reads) messages += decoder.push(read).length;
  }
  const elapsedS = Number(process.hrtime.bigint() - startNs) / 1e9;
  const totalMb = (stream.length * rounds) / 1e6;
  console.log(
    `ChunkDecoder, ${chunkSizeBytes}-byte chunks: ${totalMb.toFixed(1)} MB in ${elapsedS.toFixed(3)} s = ${(totalMb / elapsedS).toFixed(0)} MB/s, ` +
      `${(messages / elapsedS).toFixed(0)} messages/s, ` +
      `${((totalMb * 8) / (BITRATE_BPS / 1e6) / elapsedS).toFixed(0)}x realtime (${BITRATE_BPS / 1e6} Mbit/s publishers one core could ingest)`,
  );
}
