// ViewerQueue: one viewer's bounded output queue with the drop-to-next-keyframe policy.
import type { CloseReason } from './subscriber.ts';
import type { Packet } from './packet.ts';

/** Where a viewer's bytes go: a socket, an HTTP response or a WebSocket, wrapped by its server. */
export interface ViewerSink {
  /** Writes bytes; returns false when the sink wants the queue to wait for `drain()`. */
  write(bytes: Buffer): boolean;
  /** Ends the viewer: the stream ended, or it was too slow, kicked, or the server stops. */
  close(reason: CloseReason): void;
}

/** Bounds of one viewer's queue. */
export interface ViewerLimits {
  /** Bytes queued beyond the socket's own buffer before frames are dropped. */
  readonly maxQueueBytes: number;
  /** Media duration queued before frames are dropped. */
  readonly maxQueueDurationMs: number;
  /** A viewer that has been dropping frames for this long without catching up is closed. */
  readonly maxBehindMs: number;
}

/**
 * Writes packets to one viewer while its sink accepts them and queues the rest, within bounds.
 * On overflow it drops everything queued except essential packets and then drops new frames
 * until the next video keyframe, so the viewer never gets a P-frame after a gap. Neither the
 * publisher nor other viewers ever wait for it.
 */
export class ViewerQueue {
  readonly #sink: ViewerSink;
  readonly #limits: ViewerLimits;
  readonly #now: () => number;
  #queue: Packet[] = [];
  #head = 0;
  #queuedBytes = 0;
  #blocked = false;
  #waitKeyframe = false;
  #behindSinceMs: number | null = null;
  #closed = false;
  #started = false;
  #droppedFrames = 0;
  #sentBytes = 0;
  /** With no video track, audio frames are the random-access points. */
  videoless = false;

  constructor(
    sink: ViewerSink,
    limits: ViewerLimits,
    now: () => number = performance.now.bind(performance),
  ) {
    this.#sink = sink;
    this.#limits = limits;
    this.#now = now;
  }

  /** Frames dropped for this viewer so far. */
  get droppedFrames(): number {
    return this.#droppedFrames;
  }

  /** Bytes handed to the sink so far. */
  get sentBytes(): number {
    return this.#sentBytes;
  }

  /** Packets waiting for the sink. */
  get depth(): number {
    return this.#queue.length - this.#head;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Offers one packet: written now, queued, or dropped by the policy above. */
  push(packet: Packet): void {
    if (this.#closed) return;
    if (!this.#started && !packet.essential) {
      // A viewer starts on a random-access point; what comes before is not a drop.
      if (!this.#isRandomAccess(packet)) return;
      this.#started = true;
    }
    if (this.#waitKeyframe && !packet.essential) {
      if (!this.#isRandomAccess(packet)) {
        this.#droppedFrames++;
        return;
      }
      this.#waitKeyframe = false;
    }
    if (!this.#blocked && this.depth === 0) {
      // Nothing queued, the sink accepts and no keyframe is awaited: the viewer has caught up.
      if (!this.#waitKeyframe) this.#behindSinceMs = null;
      this.#write(packet);
      return;
    }
    this.#queue.push(packet);
    this.#queuedBytes += packet.bytes.length;
    if (this.#overLimits()) this.#overflow();
  }

  /** The sink can take more: write what is queued until it pushes back again. */
  drain(): void {
    this.#blocked = false;
    // #write() sets #blocked when the sink pushes back (TypeScript cannot see that).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    while (!this.#blocked && this.#head < this.#queue.length && !this.#closed) {
      const packet = this.#queue[this.#head] as Packet;
      this.#queue[this.#head] = undefined as unknown as Packet;
      this.#head++;
      this.#queuedBytes -= packet.bytes.length;
      this.#write(packet);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      if (!this.#waitKeyframe) this.#behindSinceMs = null;
    }
  }

  /** Closes the viewer once; later pushes are ignored. */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#sink.close(reason);
  }

  #write(packet: Packet): void {
    this.#sentBytes += packet.bytes.length;
    if (!this.#sink.write(packet.bytes)) this.#blocked = true;
  }

  #isRandomAccess(packet: Packet): boolean {
    return packet.kind === 'video' ? packet.keyframe : this.videoless && packet.kind === 'audio';
  }

  #overLimits(): boolean {
    if (this.#queuedBytes > this.#limits.maxQueueBytes) return true;
    const first = this.#queue[this.#head];
    const last = this.#queue[this.#queue.length - 1];
    return (
      first !== undefined &&
      last !== undefined &&
      last.dtsMs - first.dtsMs > this.#limits.maxQueueDurationMs
    );
  }

  /** Drops all queued media (keeping essential packets) and waits for the next keyframe. */
  #overflow(): void {
    const now = this.#now();
    this.#behindSinceMs ??= now;
    if (now - this.#behindSinceMs > this.#limits.maxBehindMs) {
      this.close('too-slow');
      return;
    }
    const kept: Packet[] = [];
    let keptBytes = 0;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const packet = this.#queue[i] as Packet;
      if (packet.essential) {
        kept.push(packet);
        keptBytes += packet.bytes.length;
      } else {
        this.#droppedFrames++;
      }
    }
    this.#queue = kept;
    this.#head = 0;
    this.#queuedBytes = keptBytes;
    this.#waitKeyframe = true;
  }
}
