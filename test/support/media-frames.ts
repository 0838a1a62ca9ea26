// Test helper: real H.264 + AAC tracks and coded payloads from one ffmpeg run, and synthetic
// Frames with chosen timestamps, fed to anything with onFrame (a fragmenter, a window).
import { execFileSync } from 'node:child_process';
import { FlvDecoder, FlvTagType } from '../../src/codecs/flv.ts';
import { parseAudioTag, parseVideoTag } from '../../src/media/flv-tag-parser.ts';
import type { Frame } from '../../src/media/frame.ts';
import type { AudioTrack, Track, VideoTrack } from '../../src/media/track.ts';

/** Real tracks and one FLV tag body of each kind of coded frame. */
export interface HlsTestMedia {
  readonly video: VideoTrack;
  readonly audio: AudioTrack;
  readonly keyframe: { readonly body: Buffer; readonly payloadOffset: number };
  readonly interframe: { readonly body: Buffer; readonly payloadOffset: number };
  readonly aacFrame: { readonly body: Buffer; readonly payloadOffset: number };
}

let cached: HlsTestMedia | undefined;

/**
 * One second of libx264 160x120 25 fps (keyframe every 25) + AAC LC 44.1 kHz stereo in FLV, made
 * by ffmpeg once per process and demuxed with onair's own FLV decoder and tag parser.
 */
export function hlsTestMedia(): HlsTestMedia {
  if (cached) return cached;
  const flv = execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '1'],
      ...['-c:v', 'libx264', '-g', '25', '-bf', '0', '-c:a', 'aac', '-ac', '2'],
      ...['-f', 'flv', 'pipe:1'],
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  let video: VideoTrack | undefined;
  let audio: AudioTrack | undefined;
  let keyframe: HlsTestMedia['keyframe'] | undefined;
  let interframe: HlsTestMedia['interframe'] | undefined;
  let aacFrame: HlsTestMedia['aacFrame'] | undefined;
  for (const tag of new FlvDecoder().push(flv)) {
    if (tag.type === FlvTagType.Video) {
      const parse = parseVideoTag(tag.body);
      if (parse.type === 'sequence-header' && parse.track.kind === 'video') video = parse.track;
      if (parse.type !== 'frame') continue;
      const payload = { body: tag.body, payloadOffset: parse.payloadOffset };
      if (parse.keyframe) keyframe ??= payload;
      else interframe ??= payload;
    } else if (tag.type === FlvTagType.Audio) {
      const parse = parseAudioTag(tag.body);
      if (parse.type === 'sequence-header' && parse.track.kind === 'audio') audio = parse.track;
      if (parse.type === 'frame')
        aacFrame ??= { body: tag.body, payloadOffset: parse.payloadOffset };
    }
  }
  if (!video || !audio || !keyframe || !interframe || !aacFrame) {
    throw new Error('ffmpeg output lacks a track or a frame kind');
  }
  cached = { video, audio, keyframe, interframe, aacFrame };
  return cached;
}

/** A video Frame at `dtsMs` (timescale 1000) reusing the real keyframe or inter-frame payload. */
export function videoFrame(dtsMs: number, keyframe: boolean): Frame {
  const media = hlsTestMedia();
  const { body, payloadOffset } = keyframe ? media.keyframe : media.interframe;
  return {
    kind: 'video',
    track: media.video,
    timescale: 1000,
    dts: dtsMs,
    pts: dtsMs,
    keyframe,
    sequenceHeader: false,
    payload: body.subarray(payloadOffset),
    flvBody: body,
  };
}

/** An AAC Frame at `dtsMs` (timescale 1000) reusing a real AAC payload. */
export function audioFrame(dtsMs: number): Frame {
  const media = hlsTestMedia();
  const { body, payloadOffset } = media.aacFrame;
  return {
    kind: 'audio',
    track: media.audio,
    timescale: 1000,
    dts: dtsMs,
    pts: dtsMs,
    keyframe: false,
    sequenceHeader: false,
    payload: body.subarray(payloadOffset),
    flvBody: body,
  };
}

/** What frames are fed to. */
export interface FrameTarget {
  onFrame(frame: Frame): void;
}

/** The tracks a segmenter is given: H.264 + AAC, or one of them. */
export function testTracks(kinds: 'av' | 'video' | 'audio' = 'av'): Track[] {
  const { video, audio } = hlsTestMedia();
  if (kinds === 'video') return [video];
  if (kinds === 'audio') return [audio];
  return [video, audio];
}

/** How {@link feedVideo} lays out frames. */
export interface VideoFeed {
  readonly fromMs?: number;
  readonly frames: number;
  readonly fps: number;
  /** Frames per GOP (a keyframe every `gop` frames, the first one included); 0 for none after the first. */
  readonly gop: number;
  /** Interleave AAC frames (44.1 kHz, 1024 samples each) over the same time span. */
  readonly withAudio?: boolean;
}

/**
 * Feeds `frames` video frames with dts rounded to whole ms (as RTMP carries them); returns the
 * dts of every keyframe and of the frame after the last (where the stream would continue).
 */
export function feedVideo(
  segmenter: FrameTarget,
  feed: VideoFeed,
): { keyframeDtsMs: number[]; endMs: number } {
  const fromMs = feed.fromMs ?? 0;
  const dtsOf = (i: number): number => fromMs + Math.round((i * 1000) / feed.fps);
  const keyframeDtsMs: number[] = [];
  let audioIndex = 0;
  const audioDtsOf = (i: number): number => fromMs + Math.round((i * 1024 * 1000) / 44100);
  for (let i = 0; i < feed.frames; i++) {
    const dtsMs = dtsOf(i);
    if (feed.withAudio === true) {
      while (audioDtsOf(audioIndex) <= dtsMs)
        segmenter.onFrame(audioFrame(audioDtsOf(audioIndex++)));
    }
    const keyframe = feed.gop > 0 ? i % feed.gop === 0 : i === 0;
    if (keyframe) keyframeDtsMs.push(dtsMs);
    segmenter.onFrame(videoFrame(dtsMs, keyframe));
  }
  return { keyframeDtsMs, endMs: dtsOf(feed.frames) };
}

/** Feeds `count` AAC frames from `fromMs`; returns the dts the next frame would have. */
export function feedAudio(segmenter: FrameTarget, fromMs: number, count: number): number {
  const dtsOf = (i: number): number => fromMs + Math.round((i * 1024 * 1000) / 44100);
  for (let i = 0; i < count; i++) segmenter.onFrame(audioFrame(dtsOf(i)));
  return dtsOf(count);
}

/** Per fMP4 track id, the sample count and summed sample durations of a fragment sequence. */
export function fmp4Samples(bytes: Buffer): Map<number, { count: number; durationTicks: number }> {
  const out = new Map<number, { count: number; durationTicks: number }>();
  const walk = (buf: Buffer, start: number, end: number, trackId: number): void => {
    let at = start;
    while (at + 8 <= end) {
      const size = buf.readUInt32BE(at);
      const type = buf.toString('latin1', at + 4, at + 8);
      if (size < 8 || at + size > end) throw new Error(`bad box ${type} at ${at}`);
      if (type === 'moof') walk(buf, at + 8, at + size, 0);
      else if (type === 'traf')
        walk(buf, at + 8, at + size, buf.readUInt32BE(at + 20)); // tfhd comes first;
      else if (type === 'trun') {
        const flags = buf.readUInt32BE(at + 8) & 0xffffff;
        const count = buf.readUInt32BE(at + 12);
        let p = at + 16 + (flags & 1 ? 4 : 0) + (flags & 4 ? 4 : 0);
        let durationTicks = 0;
        for (let i = 0; i < count; i++) {
          if (flags & 0x100) durationTicks += buf.readUInt32BE(p);
          p += [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length * 4;
        }
        const entry = out.get(trackId) ?? { count: 0, durationTicks: 0 };
        out.set(trackId, {
          count: entry.count + count,
          durationTicks: entry.durationTicks + durationTicks,
        });
      }
      at += size;
    }
  };
  walk(bytes, 0, bytes.length, 0);
  return out;
}
