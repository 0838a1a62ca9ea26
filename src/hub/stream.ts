// Stream: live media at one path. One publisher at a time, many subscribers, a GOP cache.
import { IngestStats } from './ingest-stats.ts';
import { dtsMsOf, rescale, ticksToMs, type Frame, type FrameInput } from '../media/frame.ts';
import type { Track } from '../media/track.ts';
import { GopCache, type GopCacheLimits } from './gop-cache.ts';
import { StreamBusyError } from './hub-errors.ts';
import { SharedOutput, type FrameEncoder } from './shared-output.ts';
import type { CloseReason, OutputAdapter, OutputAdapterFactory, Subscriber } from './subscriber.ts';
import type { HubEvent } from './hub-events.ts';

/** Who publishes; shown by the API, never used to decide anything in the hub. */
export interface PublisherInfo {
  readonly protocol: string;
  readonly remoteAddress: string;
  /**
   * Set by a publisher that gives way to any other (a pull of a stream published elsewhere):
   * a new publisher takes the path over at once, as a resume, and this is called.
   */
  readonly onYield?: () => void;
  /**
   * Its timestamps are another live stream's (an ABR ladder's ffmpeg keeps the source's): a new
   * publisher of this kind is not moved on to continue the last one's timeline, so the
   * rendition stays on its source's, where its HLS cuts follow the source's (CutGrid).
   */
  readonly sourceTimeline?: boolean;
  /**
   * Its timestamps are on the clock of this stream's publisher (another track of one encoder,
   * enhanced RTMP multitrack): after a reconnect it is moved on by that stream's offset, not by
   * one of its own, so the two stay on the same timeline (and the same HLS cuts).
   */
  readonly timelineOf?: Stream;
}

/** Settings a Stream takes from the hub. */
export interface StreamOptions {
  readonly gopCache: GopCacheLimits & { readonly enabled: boolean };
  readonly reconnectGraceMs: number;
  /** See SharedOutputOptions.audioMergeMs. */
  readonly audioMergeMs: number;
  /** A subscriber threw and was evicted (a bug or a muxer refusing input): log it. */
  readonly onSubscriberError?: (stream: Stream, error: unknown) => void;
  /** Called when the stream has no publisher, no grace period running and no subscriber. */
  readonly onDone: (stream: Stream) => void;
  /** Receives the stream's lifecycle events (the hub's HubEvents). */
  readonly onEvent?: (event: HubEvent) => void;
  /** Puts an adapter in front of an output (the app's Opus -> AAC for FLV and RTMP). */
  readonly adaptOutput?: OutputAdapterFactory;
}

/** Where a Stream is in its life. */
export type StreamState = 'idle' | 'live' | 'grace' | 'ended';

/** How much audio with no video header makes a stream audio-only. */
const AUDIO_ONLY_AFTER_MS = 1000;

/** A gap put between the last frame of a publisher and the first of the next one. */
const REPUBLISH_GAP_MS = 20;

/**
 * Live media at one path. Frames keep the publisher's timestamps, shifted when a new publisher
 * takes over within the grace period so every subscriber sees one continuous timeline.
 */
export class Stream {
  readonly path: string;
  /** What the publisher sends: bitrate, frame rate, keyframe interval. */
  readonly ingest = new IngestStats();
  readonly #options: StreamOptions;
  readonly #subscribers = new Set<Subscriber>();
  readonly #outputs = new Map<string, SharedOutput>();
  readonly #gop: GopCache<Frame>;
  #state: StreamState = 'idle';
  #publisher: Publication | null = null;
  #video: Track | null = null;
  #audio: Track | null = null;
  #metadata: Frame | null = null;
  #videoHeader: Frame | null = null;
  #audioHeader: Frame | null = null;
  #ready = false;
  #offsetMs = 0;
  #lastDtsMs = 0;
  #rebase = false;
  /** The stream whose timestamp offset this publisher's frames take (PublisherInfo.timelineOf). */
  #timelineOf: Stream | null = null;
  #firstAudioDtsMs: number | null = null;
  #graceTimer: NodeJS.Timeout | null = null;
  #publishedAtMs = 0;
  #bFrames = false;
  #publishCount = 0;

  constructor(path: string, options: StreamOptions) {
    this.path = path;
    this.#options = options;
    this.#gop = new GopCache(options.gopCache);
  }

  get state(): StreamState {
    return this.#state;
  }

  /** What is added to the current publisher's timestamps (ms): 0 until a republish moves it on. */
  get timelineOffsetMs(): number {
    return this.#offsetMs;
  }

  /** The current publication, if a publisher is live. */
  get publisher(): Publication | null {
    return this.#publisher;
  }

  /** Tracks announced by the current (or last) publisher. */
  get tracks(): readonly Track[] {
    const tracks: Track[] = [];
    if (this.#video) tracks.push(this.#video);
    if (this.#audio) tracks.push(this.#audio);
    return tracks;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Wall-clock ms when the current publisher started (Date.now()). */
  get publishedAtMs(): number {
    return this.#publishedAtMs;
  }

  /** The current publisher's video has had B-frames (reordered frames). */
  get hasBFrames(): boolean {
    return this.#bFrames;
  }

  /** @internal Used by StreamHub.publish(). */
  attach(info: PublisherInfo): Publication {
    const current = this.#publisher;
    if (current) {
      if (!current.info.onYield) throw new StreamBusyError(this.path);
      // A stand-in (a pull) gives way: viewers continue on the new publisher's timeline.
      current.detach();
      this.#publisher = null;
      this.#state = 'grace';
      current.info.onYield();
    }
    const resumed = this.#state === 'grace';
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
    this.#timelineOf = info.timelineOf ?? null;
    this.#rebase = this.#publishCount > 0 && info.sourceTimeline !== true && !this.#timelineOf;
    if (info.sourceTimeline === true) this.#offsetMs = 0;
    this.#publishCount++;
    this.#state = 'live';
    this.#ready = false;
    this.#video = null;
    this.#audio = null;
    this.#metadata = null;
    this.#videoHeader = null;
    this.#audioHeader = null;
    this.#gop.clear();
    this.#firstAudioDtsMs = null;
    this.#publishedAtMs = Date.now();
    this.#bFrames = false;
    this.ingest.reset();
    this.#publisher = new Publication(this, info);
    this.#options.onEvent?.({
      type: resumed ? 'resumed' : 'published',
      stream: this,
      publisher: info,
    });
    return this.#publisher;
  }

  /**
   * Adds a subscriber. If the stream already has tracks it gets them now, then metadata,
   * sequence headers and the cached GOP; otherwise all of that comes when the publisher starts.
   */
  subscribe(subscriber: Subscriber): void {
    if (this.#subscribers.has(subscriber)) return;
    this.#subscribers.add(subscriber);
    this.#emitSubscribers('subscriber-added');
    if (this.#ready)
      this.#guard(subscriber, () => {
        this.#replay(subscriber);
      });
  }

  /** Removes a subscriber; the stream is forgotten once nobody uses it. */
  unsubscribe(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber)) return;
    this.#emitSubscribers('subscriber-removed');
    this.#checkDone();
  }

  /**
   * The shared output of one format (key) for this stream, made on first use and dropped when
   * its last viewer leaves: nothing is encoded for a format nobody watches.
   */
  output(key: string, encode: FrameEncoder): SharedOutput {
    let output = this.#outputs.get(key);
    if (output) return output;
    const created = new SharedOutput({
      encode,
      gopCache: this.#options.gopCache,
      audioMergeMs: this.#options.audioMergeMs,
      onIdle: () => {
        if (this.#outputs.get(key) === created) this.#outputs.delete(key);
        this.unsubscribe(adapter ?? created);
        adapter?.dispose();
      },
    });
    const adapter = this.adapterFor(key, created);
    output = created;
    this.#outputs.set(key, output);
    this.subscribe(adapter ?? output);
    return output;
  }

  /**
   * The adapter the hub's `adaptOutput` puts in front of `subscriber` as output `key` (for
   * subscribers made outside output(), such as fragmenters), or null for none.
   */
  adapterFor(key: string, subscriber: Subscriber): OutputAdapter | null {
    return this.#options.adaptOutput?.(key, subscriber, this.path) ?? null;
  }

  /** Ends the stream now for every subscriber (server shutdown, or an operator). */
  end(reason: CloseReason): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
    if (this.#state === 'ended') return;
    this.#publisher?.detach();
    this.#publisher = null;
    this.#state = 'ended';
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    this.#outputs.clear();
    for (const subscriber of subscribers) subscriber.onClose(reason);
    this.#options.onDone(this);
    this.#options.onEvent?.({ type: 'ended', stream: this, reason });
  }

  /** @internal Called by Publication.write(). */
  write(input: FrameInput): void {
    const inputMs = ticksToMs(input.dts, input.timescale);
    if (this.#timelineOf !== null) this.#offsetMs = this.#timelineOf.timelineOffsetMs;
    else if (this.#rebase) {
      this.#rebase = false;
      this.#offsetMs = Math.round(this.#lastDtsMs + REPUBLISH_GAP_MS - inputMs);
    }
    const offset = this.#offsetMs === 0 ? 0 : rescale(this.#offsetMs, 1000, input.timescale);
    const dtsMs = inputMs + this.#offsetMs;
    this.#lastDtsMs = dtsMs;
    const media = input.kind === 'video' && input.track === undefined;
    const bytes = input.flvBody?.length ?? input.payload.length;
    this.ingest.add(bytes, media, input.keyframe, dtsMs);
    const frame: Frame = {
      kind: input.kind,
      track:
        input.track ??
        (input.kind === 'video' ? this.#video : input.kind === 'audio' ? this.#audio : null) ??
        undefined,
      timescale: input.timescale,
      dts: input.dts + offset,
      pts: input.pts + offset,
      keyframe: input.keyframe,
      sequenceHeader: input.track !== undefined,
      payload: input.payload,
      flvBody: input.flvBody,
    };
    if (input.kind === 'video' && input.pts !== input.dts && !this.#bFrames) {
      this.#bFrames = true;
      this.#options.onEvent?.({ type: 'b-frames', stream: this });
    }
    if (input.kind === 'data') {
      this.#metadata = frame;
    } else if (input.track) {
      const previous = input.track.kind === 'video' ? this.#video : this.#audio;
      if (input.track.kind === 'video') {
        this.#video = input.track;
        this.#videoHeader = frame;
      } else {
        this.#audio = input.track;
        this.#audioHeader = frame;
      }
      // A codec change while live: subscribers learn the new tracks before the new header.
      const changed = previous === null || !previous.config.equals(input.track.config);
      if (this.#ready && changed) {
        this.#gop.clear(); // frames of the old codec cannot start a viewer on the new one
        for (const subscriber of this.#subscribers) {
          this.#guard(subscriber, () => {
            subscriber.onTracks(this.tracks);
          });
        }
      }
    } else if (this.#options.gopCache.enabled) {
      this.#gop.push(frame, {
        keyframe: input.kind === 'video' ? input.keyframe : this.#video === null,
        dtsMs,
        sizeBytes: bytes,
      });
    }
    if (!this.#ready) {
      if (!this.#startsPlayback(frame)) return;
      this.#ready = true;
      for (const subscriber of this.#subscribers) {
        this.#guard(subscriber, () => {
          this.#replay(subscriber, frame);
        });
      }
      return;
    }
    for (const subscriber of this.#subscribers) {
      try {
        subscriber.onFrame(frame);
      } catch (error) {
        this.#evict(subscriber, error);
      }
    }
  }

  /** @internal Called by Publication.close(): viewers wait out the grace period. */
  detach(publication: Publication): void {
    if (this.#publisher !== publication) return;
    this.#publisher = null;
    this.#state = 'grace';
    this.#ready = false;
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = null;
      this.end('stream-ended');
    }, this.#options.reconnectGraceMs);
    this.#graceTimer.unref();
    if (this.#subscribers.size === 0) this.end('stream-ended');
    else {
      const graceMs = this.#options.reconnectGraceMs;
      this.#options.onEvent?.({ type: 'unpublished', stream: this, graceMs });
    }
  }

  /**
   * Subscribers start on the first video keyframe, when the sequence headers of both tracks are
   * in, so they learn the real tracks and begin with a decodable picture. A stream that has
   * sent audio for a while with no video header is audio-only and starts on audio.
   */
  #startsPlayback(frame: Frame): boolean {
    if (frame.sequenceHeader || frame.kind === 'data') return false;
    if (frame.kind === 'video') return frame.keyframe && this.#video !== null;
    if (this.#video !== null) return false;
    const dtsMs = dtsMsOf(frame);
    this.#firstAudioDtsMs ??= dtsMs;
    return dtsMs - this.#firstAudioDtsMs >= AUDIO_ONLY_AFTER_MS;
  }

  /** Runs `call`; a subscriber that throws is evicted so the publisher and the others go on. */
  #guard(subscriber: Subscriber, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#evict(subscriber, error);
    }
  }

  #evict(subscriber: Subscriber, error: unknown): void {
    if (!this.#subscribers.delete(subscriber)) return;
    this.#emitSubscribers('subscriber-removed');
    this.#options.onSubscriberError?.(this, error);
    try {
      subscriber.onClose('kicked');
    } catch {
      // Already failing; nothing more to tell it.
    }
    this.#checkDone();
  }

  /** Sends tracks, headers and the cached GOP; `current` is the live frame that made us ready. */
  #replay(subscriber: Subscriber, current?: Frame): void {
    subscriber.onTracks(this.tracks);
    if (this.#metadata) subscriber.onFrame(this.#metadata);
    if (this.#videoHeader) subscriber.onFrame(this.#videoHeader);
    if (this.#audioHeader) subscriber.onFrame(this.#audioHeader);
    let sentCurrent = false;
    for (const frame of this.#gop.items) {
      subscriber.onFrame(frame);
      if (frame === current) sentCurrent = true;
    }
    if (current && !sentCurrent && (current.kind !== 'video' || current.keyframe)) {
      subscriber.onFrame(current);
    }
  }

  #emitSubscribers(type: 'subscriber-added' | 'subscriber-removed'): void {
    this.#options.onEvent?.({ type, stream: this, subscribers: this.#subscribers.size });
  }

  #checkDone(): void {
    if (this.#subscribers.size > 0) return;
    if (this.#state === 'idle') {
      this.#state = 'ended';
      this.#options.onDone(this);
      this.#options.onEvent?.({ type: 'ended', stream: this, reason: 'not-found' });
    } else if (this.#state === 'grace') {
      this.end('stream-ended'); // nobody left to keep the path for
    }
  }
}

/** The right to write one Stream, held by its publisher session. */
export class Publication {
  readonly stream: Stream;
  readonly info: PublisherInfo;
  #open = true;

  constructor(stream: Stream, info: PublisherInfo) {
    this.stream = stream;
    this.info = info;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Writes one message to every subscriber (synchronously). Ignored once closed. */
  write(input: FrameInput): void {
    if (this.#open) this.stream.write(input);
  }

  /** The publisher left: subscribers stay through the grace period. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.stream.detach(this);
  }

  /** @internal The stream ended under the publisher. */
  detach(): void {
    this.#open = false;
  }
}
