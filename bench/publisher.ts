// The load generator's publisher: onair's RtmpClient publishing an FlvSource at real-time pace
// (each tag at start + timestamp, looped with increasing timestamps), logging every video send time.
import { performance } from 'node:perf_hooks';
import { encodeAmf0 } from '../src/codecs/amf0.ts';
import { FlvTagType } from '../src/codecs/flv.ts';
import { MessageType } from '../src/codecs/rtmp-message.ts';
import { RtmpClient } from '../src/protocols/rtmp/rtmp-client.ts';
import type { FlvSource } from './flv-source.ts';
import { monoMs, type RingFrame, type SendRing } from './send-ring.ts';

/** One published video frame; `sentAtMs` is taken right before the socket write. */
export type SentFrame = RingFrame;

/** What viewers need to know about the published frames (main thread or probe thread). */
export interface SendLookup {
  /** Send time of the newest frame. */
  readonly lastSentAtMs: number;
  /** The frame published with this RTMP timestamp, or undefined. */
  get(timestampMs: number): SentFrame | undefined;
  /** Recent frames of this size and kind (one match means the timestamp offset is known). */
  recentLike(sizeBytes: number, keyframe: boolean): SentFrame[];
  /** Number of video frames sent in [fromMs, toMs]. */
  sentBetween(fromMs: number, toMs: number): number;
  /** The latest keyframe published with a timestamp at or before `timestampMs`, or undefined. */
  keyframeAtOrBefore(timestampMs: number): SentFrame | undefined;
}

/** Send times (performance.now()) of every published video frame, in the publisher's thread. */
export class SendLog implements SendLookup {
  readonly #byTimestamp = new Map<number, SentFrame>();
  /** Send times in increasing order. */
  readonly #sendTimes: number[] = [];
  /** The last frames, searched when a server rebases timestamps (calibration by size). */
  readonly #recent: SentFrame[] = [];
  /** Keyframes in publishing order (increasing timestamps). */
  readonly #keyframes: SentFrame[] = [];
  lastSentAtMs = 0;

  /** Records a frame sent now. */
  add(frame: SentFrame): void {
    this.#byTimestamp.set(frame.timestampMs, frame);
    if (frame.keyframe) this.#keyframes.push(frame);
    this.#sendTimes.push(frame.sentAtMs);
    this.lastSentAtMs = frame.sentAtMs;
    this.#recent.push(frame);
    if (this.#recent.length > 900) this.#recent.splice(0, 300);
  }

  get(timestampMs: number): SentFrame | undefined {
    return this.#byTimestamp.get(timestampMs);
  }

  recentLike(sizeBytes: number, keyframe: boolean): SentFrame[] {
    return this.#recent.filter((f) => f.sizeBytes === sizeBytes && f.keyframe === keyframe);
  }

  sentBetween(fromMs: number, toMs: number): number {
    return Math.max(0, this.#lowerBound(toMs + 1e-9) - this.#lowerBound(fromMs));
  }

  keyframeAtOrBefore(timestampMs: number): SentFrame | undefined {
    const keys = this.#keyframes;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((keys[mid]?.timestampMs ?? 0) <= timestampMs) lo = mid + 1;
      else hi = mid;
    }
    return keys[lo - 1];
  }

  #lowerBound(value: number): number {
    const times = this.#sendTimes;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((times[mid] ?? 0) < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Publisher counters, copied into the result. */
export interface PublisherStats {
  mediaBytes: number;
  videoFrames: number;
  audioFrames: number;
  /** Largest delay between a tag's due time and its write. */
  maxLateMs: number;
  /** Largest socket write queue seen after a tick. */
  maxQueuedBytes: number;
  startedAtMs: number;
  error: string | null;
}

/** Publishes `source` to an RTMP URL until stop(). */
export class Publisher {
  readonly sendLog = new SendLog();
  readonly stats: PublisherStats = {
    mediaBytes: 0,
    videoFrames: 0,
    audioFrames: 0,
    maxLateMs: 0,
    maxQueuedBytes: 0,
    startedAtMs: 0,
    error: null,
  };
  readonly #source: FlvSource;
  /** Shared copy of the send log for the latency probe thread (monotonic clock). */
  readonly #ring: SendRing | null;
  #client: RtmpClient | null = null;
  #streamId = 0;
  #index = 0;
  #loop = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(source: FlvSource, ring: SendRing | null = null) {
    this.#source = source;
    this.#ring = ring;
  }

  /** Connects, publishes, sends metadata and sequence headers, then starts the paced loop. */
  async start(url: string): Promise<void> {
    const client = await RtmpClient.connect(url, {
      timeoutMs: 10_000,
      onClose: (info) => {
        if (!this.#stopped) this.stats.error ??= `publisher closed: ${info.code} ${info.message}`;
      },
    });
    this.#client = client;
    this.#streamId = await client.publish();
    const source = this.#source;
    if (source.metadata) {
      const payload = Buffer.concat([encodeAmf0(['@setDataFrame']), source.metadata]);
      client.sendMedia(this.#streamId, MessageType.DataAmf0, 0, payload);
    }
    client.sendMedia(this.#streamId, MessageType.Video, 0, source.videoSequenceHeader);
    if (source.audioSequenceHeader) {
      client.sendMedia(this.#streamId, MessageType.Audio, 0, source.audioSequenceHeader);
    }
    this.stats.startedAtMs = performance.now();
    this.#tick();
  }

  /** Stops sending and closes the connection. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#client?.close();
  }

  #tick(): void {
    const client = this.#client;
    if (this.#stopped || client === null || client.connection.closed) return;
    const source = this.#source;
    const socket = client.connection.socket;
    const stats = this.stats;
    const elapsedMs = performance.now() - stats.startedAtMs;
    socket.cork();
    for (let sent = 0; sent < 2000; sent++) {
      const tag = source.tags[this.#index];
      if (tag === undefined) break;
      const timestampMs = tag.timestampMs + this.#loop * source.loopMs;
      if (timestampMs > elapsedMs) break;
      const sentAtMs = performance.now();
      stats.maxLateMs = Math.max(stats.maxLateMs, sentAtMs - stats.startedAtMs - timestampMs);
      client.sendMedia(this.#streamId, tag.type, timestampMs, tag.body);
      stats.mediaBytes += tag.body.length;
      if (tag.type === FlvTagType.Video) {
        stats.videoFrames++;
        const frame = { timestampMs, sizeBytes: tag.body.length, keyframe: tag.keyframe };
        this.sendLog.add({ ...frame, sentAtMs });
        this.#ring?.add({ ...frame, sentAtMs: monoMs() });
      } else {
        stats.audioFrames++;
      }
      if (++this.#index >= source.tags.length) {
        this.#index = 0;
        this.#loop++;
      }
    }
    socket.uncork();
    stats.maxQueuedBytes = Math.max(stats.maxQueuedBytes, socket.writableLength);
    const next = source.tags[this.#index];
    const dueMs = (next?.timestampMs ?? 0) + this.#loop * source.loopMs;
    this.#timer = setTimeout(
      () => {
        this.#tick();
      },
      Math.max(0, dueMs - (performance.now() - stats.startedAtMs)),
    );
  }
}
