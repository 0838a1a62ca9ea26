// SharedOutput: one format's fan-out for one stream. Each frame is encoded once; every viewer gets the same bytes.
import { dtsMsOf, type Frame } from '../media/frame.ts';
import type { Track } from '../media/track.ts';
import { GopCache, type GopCacheLimits } from './gop-cache.ts';
import type { Packet } from './packet.ts';
import type { CloseReason, Subscriber } from './subscriber.ts';
import type { ViewerQueue } from './viewer-queue.ts';

/** Turns a frame into this format's bytes (an FLV tag, RTMP chunks...), null to skip it. Once per frame. */
export type FrameEncoder = (frame: Frame) => Buffer | null;

/** How a viewer joins a SharedOutput. */
export interface ViewerStartOptions {
  /** Writes the viewer's own prelude once the stream's tracks are known. */
  readonly start: (tracks: readonly Track[]) => void;
  /** How long a viewer that arrives before the publisher waits for one. */
  readonly waitMs: number;
}

interface PendingViewer {
  readonly start: (tracks: readonly Track[]) => void;
  readonly timer: NodeJS.Timeout;
}

/** How a SharedOutput is made. */
export interface SharedOutputOptions {
  readonly encode: FrameEncoder;
  readonly gopCache: GopCacheLimits & { readonly enabled: boolean };
  /**
   * Audio frames wait up to this long for the next video frame and go out with it, so each
   * viewer gets one write instead of several (0: every frame at once). Video never waits.
   */
  readonly audioMergeMs: number;
  /** Called when the last viewer leaves, so the owner can unsubscribe and forget this output. */
  readonly onIdle: () => void;
}

/**
 * A Subscriber that encodes every frame once and pushes the same Packet to each viewer's queue.
 * It keeps its own encoded copy of the stream's headers and current GOP, so a viewer who joins
 * later starts on a keyframe without anything being encoded again.
 */
export class SharedOutput implements Subscriber {
  readonly #options: SharedOutputOptions;
  readonly #viewers = new Set<ViewerQueue>();
  readonly #pending = new Map<ViewerQueue, PendingViewer>();
  #tracks: readonly Track[] = [];
  #metadata: Packet | null = null;
  #videoHeader: Packet | null = null;
  #audioHeader: Packet | null = null;
  readonly #gop: GopCache<Packet>;
  #ready = false;
  #closed: CloseReason | null = null;
  #heldAudio: Buffer[] = [];
  #heldAudioDtsMs: number | null = null;
  #mergeTimer: NodeJS.Timeout | null = null;

  constructor(options: SharedOutputOptions) {
    this.#options = options;
    this.#gop = new GopCache(options.gopCache);
  }

  /** The stream's tracks, once it has started. */
  get tracks(): readonly Track[] {
    return this.#tracks;
  }

  /** True once the stream has delivered its tracks (viewers can be started). */
  get ready(): boolean {
    return this.#ready;
  }

  get viewerCount(): number {
    return this.#viewers.size + this.#pending.size;
  }

  onTracks(tracks: readonly Track[]): void {
    this.#flushHeldAudio();
    this.#tracks = tracks;
    this.#ready = true;
    // Headers of tracks that are gone are forgotten; new headers follow as frames.
    if (!tracks.some((t) => t.kind === 'video')) this.#videoHeader = null;
    if (!tracks.some((t) => t.kind === 'audio')) this.#audioHeader = null;
    this.#gop.clear();
    const videoless = !tracks.some((t) => t.kind === 'video');
    for (const viewer of this.#viewers) viewer.videoless = videoless;
    for (const [viewer, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(viewer);
      this.#start(viewer, pending.start);
    }
  }

  onFrame(frame: Frame): void {
    const bytes = this.#options.encode(frame);
    if (bytes === null) return; // nothing this format can carry
    const media = frame.kind !== 'data' && !frame.sequenceHeader;
    const dtsMs = dtsMsOf(frame);
    if (media && frame.kind === 'audio' && this.#mergeAudio()) {
      this.#heldAudio.push(bytes);
      this.#heldAudioDtsMs ??= dtsMs;
      this.#mergeTimer ??= setTimeout(this.#flushHeldAudio, this.#options.audioMergeMs);
      return;
    }
    let merged = bytes;
    if (media && frame.kind === 'video' && this.#heldAudio.length > 0) {
      // Held audio rides with this frame: one write per viewer instead of several.
      this.#heldAudio.push(bytes);
      merged = Buffer.concat(this.#heldAudio);
      this.#dropHeldAudio();
    } else {
      this.#flushHeldAudio();
    }
    this.#emit({
      bytes: merged,
      kind: frame.kind,
      keyframe: frame.keyframe,
      essential: !media,
      dtsMs,
    });
  }

  /** Sends audio still waiting for a video frame (the merge timer fired, or order demands it). */
  readonly #flushHeldAudio = (): void => {
    const [only, ...more] = this.#heldAudio;
    if (only === undefined) return;
    const bytes = more.length === 0 ? only : Buffer.concat(this.#heldAudio);
    const dtsMs = this.#heldAudioDtsMs ?? 0;
    this.#dropHeldAudio();
    this.#emit({ bytes, kind: 'audio', keyframe: false, essential: false, dtsMs });
  };

  #dropHeldAudio(): void {
    this.#heldAudio = [];
    this.#heldAudioDtsMs = null;
    if (this.#mergeTimer) clearTimeout(this.#mergeTimer);
    this.#mergeTimer = null;
  }

  /** Audio is held for the next video frame only when there is video to ride with. */
  #mergeAudio(): boolean {
    return this.#options.audioMergeMs > 0 && this.#videoHeader !== null;
  }

  /** Records a packet in the headers or the GOP, then hands it to every viewer. */
  #emit(packet: Packet): void {
    if (packet.kind === 'data') this.#metadata = packet;
    else if (packet.essential) {
      if (packet.kind === 'video') this.#videoHeader = packet;
      else this.#audioHeader = packet;
    } else if (this.#options.gopCache.enabled) {
      this.#gop.push(packet, {
        keyframe: packet.kind === 'video' ? packet.keyframe : this.#videoHeader === null,
        dtsMs: packet.dtsMs,
        sizeBytes: packet.bytes.length,
      });
    }
    for (const viewer of this.#viewers) viewer.push(packet);
  }

  onClose(reason: CloseReason): void {
    this.#flushHeldAudio();
    this.#closed = reason;
    for (const viewer of this.#viewers) viewer.close(reason);
    this.#viewers.clear();
    for (const [viewer, pending] of this.#pending) {
      clearTimeout(pending.timer);
      viewer.close(reason);
    }
    this.#pending.clear();
  }

  /**
   * Adds a viewer. Once the stream has tracks, `start` runs (it writes the viewer's own prelude:
   * FLV header, RTMP play status) and the viewer gets metadata, sequence headers and the cached
   * GOP, then live frames. A viewer that arrives first waits up to `waitMs` for a publisher and
   * is then closed with 'not-found'.
   */
  addViewer(viewer: ViewerQueue, options: ViewerStartOptions): void {
    if (this.#closed !== null) {
      viewer.close(this.#closed);
      return;
    }
    if (this.#ready) {
      this.#start(viewer, options.start);
      return;
    }
    const timer = setTimeout(() => {
      this.#pending.delete(viewer);
      viewer.close('not-found');
      if (this.#viewers.size === 0 && this.#pending.size === 0) this.#options.onIdle();
    }, options.waitMs);
    timer.unref();
    this.#pending.set(viewer, { start: options.start, timer });
  }

  #start(viewer: ViewerQueue, start: (tracks: readonly Track[]) => void): void {
    this.#viewers.add(viewer);
    viewer.videoless = !this.#tracks.some((t) => t.kind === 'video');
    start(this.#tracks);
    if (this.#metadata) viewer.push(this.#metadata);
    if (this.#videoHeader) viewer.push(this.#videoHeader);
    if (this.#audioHeader) viewer.push(this.#audioHeader);
    for (const packet of this.#gop.items) viewer.push(packet);
  }

  /** Removes a viewer (it left or was closed); the last one out makes the output idle. */
  removeViewer(viewer: ViewerQueue): void {
    if (this.#viewers.size + this.#pending.size === 1) this.#dropHeldAudio();
    const pending = this.#pending.get(viewer);
    if (pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(viewer);
    } else if (!this.#viewers.delete(viewer)) return;
    if (this.#viewers.size === 0 && this.#pending.size === 0) this.#options.onIdle();
  }
}
