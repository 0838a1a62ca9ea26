// The publisher's media: an H.264/AAC FLV file read with onair's FlvDecoder, split into the
// metadata, sequence headers and the timed audio/video tags that are looped in real time.
import { readFileSync } from 'node:fs';
import { FlvDecoder, FlvTagType, type FlvTag } from '../src/codecs/flv.ts';

/** One media tag of the file, timestamps rebased to start at 0. */
export interface SourceTag {
  readonly type: number;
  readonly timestampMs: number;
  readonly body: Buffer;
  readonly keyframe: boolean;
}

/** What the publisher sends: headers once, then `tags` looped every `loopMs`. */
export interface FlvSource {
  /** The onMetaData script tag body (sent with @setDataFrame), if the file has one. */
  readonly metadata: Buffer | null;
  readonly videoSequenceHeader: Buffer;
  readonly audioSequenceHeader: Buffer | null;
  readonly tags: readonly SourceTag[];
  /** Timestamp step added at each loop: the last timestamp plus one frame. */
  readonly loopMs: number;
  /** Media payload bitrate (audio + video bodies). */
  readonly mediaKbps: number;
  readonly videoFps: number;
}

/** True for an AVC video tag body that is a keyframe NALU (not a sequence header). */
export function isVideoKeyframe(body: Buffer): boolean {
  const b0 = body[0] ?? 0;
  return b0 >> 4 === 1 && (b0 & 0x0f) === 7 && body[1] === 1;
}

/** True for a codec configuration tag body (AVC sequence header / AAC AudioSpecificConfig). */
export function isSequenceHeader(type: number, body: Buffer): boolean {
  const b0 = body[0] ?? 0;
  if (type === FlvTagType.Video) return (b0 & 0x0f) === 7 && body[1] === 0;
  if (type === FlvTagType.Audio) return b0 >> 4 === 10 && body[1] === 0;
  return false;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? 0;
}

/** Reads an H.264/AAC FLV file; throws when it has no video sequence header or no media. */
export function readFlvSource(path: string): FlvSource {
  const all: FlvTag[] = new FlvDecoder({ maxTagBytes: 8 * 1024 * 1024 }).push(readFileSync(path));
  let metadata: Buffer | null = null;
  let videoSequenceHeader: Buffer | null = null;
  let audioSequenceHeader: Buffer | null = null;
  const media: FlvTag[] = [];
  for (const tag of all) {
    if (tag.type === FlvTagType.Script) {
      metadata ??= tag.body;
    } else if (isSequenceHeader(tag.type, tag.body)) {
      if (tag.type === FlvTagType.Video) videoSequenceHeader ??= tag.body;
      else audioSequenceHeader ??= tag.body;
    } else if (tag.type === FlvTagType.Audio || tag.type === FlvTagType.Video) {
      media.push(tag);
    }
  }
  if (videoSequenceHeader === null) throw new Error(`${path}: no AVC sequence header`);
  const first = media[0];
  if (first === undefined) throw new Error(`${path}: no audio or video tags`);
  const base = first.timestamp;
  const last = { [FlvTagType.Audio]: 0, [FlvTagType.Video]: 0 };
  const previous: Record<number, number | undefined> = {};
  const deltas: Record<number, number[]> = { [FlvTagType.Audio]: [], [FlvTagType.Video]: [] };
  const tags: SourceTag[] = media.map((tag) => {
    const timestampMs = Math.max(0, tag.timestamp - base);
    const before = previous[tag.type];
    if (before !== undefined) deltas[tag.type]?.push(timestampMs - before);
    previous[tag.type] = timestampMs;
    last[tag.type as 8 | 9] = timestampMs;
    const keyframe = tag.type === FlvTagType.Video && isVideoKeyframe(tag.body);
    return { type: tag.type, timestampMs, body: tag.body, keyframe };
  });
  const loopMs = Math.max(
    1000,
    Math.ceil(
      Math.max(
        last[FlvTagType.Video] + median(deltas[FlvTagType.Video] ?? []),
        last[FlvTagType.Audio] + median(deltas[FlvTagType.Audio] ?? []),
      ),
    ),
  );
  const bytes = tags.reduce((sum, tag) => sum + tag.body.length, 0);
  const videoFrames = tags.filter((tag) => tag.type === FlvTagType.Video).length;
  return {
    metadata,
    videoSequenceHeader,
    audioSequenceHeader,
    tags,
    loopMs,
    mediaKbps: (bytes * 8) / loopMs,
    videoFps: videoFrames / (loopMs / 1000),
  };
}
