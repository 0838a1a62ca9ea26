// Publishes an FLV file over RTMP with onair's RtmpClient in real time, looped with increasing
// timestamps: a live source made from a fixture ffmpeg cannot write (enhanced RTMP, AV1 + Opus).
import { setTimeout as sleep } from 'node:timers/promises';
import { FlvTagType, type FlvTag } from '../../src/codecs/flv.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';
import { readFlvFile } from './flv-reader.ts';

/** Options of publishFlvFileLoop(). */
export interface FlvLoopOptions {
  /** Stops by itself after this long (a bound for a test that forgets to stop it). */
  readonly maxDurationMs: number;
}

/** A running looped publish. */
export interface FlvLoopPublisher {
  /** Tags sent so far. */
  readonly sentTags: () => number;
  /** Loops started so far (1 while the file plays the first time). */
  readonly loops: () => number;
  /** The length of one pass of the file: the timestamp step between loops. */
  readonly loopDurationMs: number;
  /** Stops sending, closes the connection and rethrows a send failure, if there was one. */
  stop(): Promise<void>;
}

/**
 * Media length of the file: the last timestamp of each audio/video track plus that track's last
 * frame interval, whichever is longer. Timestamps of the next pass start there.
 */
export function loopDurationMs(tags: readonly FlvTag[]): number {
  let durationMs = 0;
  for (const type of [FlvTagType.Audio, FlvTagType.Video]) {
    const track = tags.filter((t) => t.type === type);
    const last = track.at(-1);
    const previous = track.at(-2);
    if (last === undefined) continue;
    const frameMs = previous === undefined ? 0 : last.timestamp - previous.timestamp;
    durationMs = Math.max(durationMs, last.timestamp + frameMs);
  }
  if (durationMs <= 0) throw new Error('the FLV file has no media timeline to loop');
  return durationMs;
}

/**
 * Connects to `url`, publishes, and sends every tag of `file` at start + timestamp, looping the
 * file with timestamps moved on by its duration each pass. Later passes leave out what comes
 * before the first video keyframe except coded audio (script data, sequence headers, video
 * metadata), so audio stays continuous across the loop point as it would from an encoder.
 */
export async function publishFlvFileLoop(
  url: string,
  file: string | URL,
  options: FlvLoopOptions,
): Promise<FlvLoopPublisher> {
  const tags = readFlvFile(file);
  const durationMs = loopDurationMs(tags);
  const firstKey = tags.findIndex(
    (t) => t.type === FlvTagType.Video && ((t.body[0] ?? 0) >> 4) % 8 === 1 && isCodedVideo(t),
  );
  if (firstKey < 0) throw new Error('the FLV file has no video keyframe to loop from');
  const repeated = tags.filter((t, i) => i >= firstKey || isCodedAudio(t));
  const client = await RtmpClient.connect(url);
  const streamId = await client.publish();
  const controller = new AbortController();
  let sent = 0;
  let loops = 0;
  const sendAll = async (): Promise<void> => {
    const startMs = Date.now();
    const endMs = startMs + options.maxDurationMs;
    for (let loop = 0; !controller.signal.aborted; loop++) {
      loops = loop + 1;
      const passTags = loop === 0 ? tags : repeated;
      for (const tag of passTags) {
        const timestampMs = loop * durationMs + tag.timestamp;
        const waitMs = startMs + timestampMs - Date.now();
        if (startMs + timestampMs > endMs) return;
        if (waitMs > 0) await sleep(waitMs, undefined, { signal: controller.signal });
        client.sendMedia(streamId, tag.type, timestampMs, tag.body);
        sent++;
      }
    }
  };
  // A send failure is kept for stop() to throw, never left as an unhandled rejection.
  const running: Promise<unknown> = sendAll().then(
    () => null,
    (error: unknown) => (controller.signal.aborted ? null : error),
  );
  return {
    sentTags: () => sent,
    loops: () => loops,
    loopDurationMs: durationMs,
    stop: async () => {
      controller.abort();
      const failure = await running;
      client.close();
      if (failure !== null) throw new Error('publishing the FLV file failed', { cause: failure });
    },
  };
}

/** A video tag that carries a picture (not a sequence header or metadata), legacy or enhanced. */
function isCodedVideo(tag: FlvTag): boolean {
  const first = tag.body[0] ?? 0;
  const enhanced = (first & 0x80) !== 0;
  if (enhanced) {
    const packetType = first & 0x0f;
    return packetType === 1 || packetType === 3; // CodedFrames, CodedFramesX
  }
  return tag.body[1] === 1; // AVC/HEVC NALU
}

/** An audio tag that carries sound (not a sequence header or channel configuration). */
function isCodedAudio(tag: FlvTag): boolean {
  if (tag.type !== FlvTagType.Audio) return false;
  const first = tag.body[0] ?? 0;
  const format = first >> 4;
  if (format === 9) return (first & 0x0f) === 1; // enhanced audio: CodedFrames
  if (format === 10) return tag.body[1] === 1; // AAC raw
  return true;
}
