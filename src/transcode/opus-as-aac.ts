// Opus -> AAC in front of one FLV or RTMP output: classic players (ffplay, VLC, flv.js, OBS's
// media source) know FLV's AAC and not enhanced RTMP's 'Opus' FourCC, so a stream with Opus
// audio from a WHIP publisher reaches them as AAC (an enhanced RTMP publisher's Opus is passed
// through: it chose it). Video and data pass through untouched; the Opus
// track becomes TRANSCODED_AAC_TRACK, its sequence header an AudioSpecificConfig, its frames go
// through one OpusToAacTranscoder (one ffmpeg) for as long as this output exists, and come back
// timed on the source timeline, so they sit with the video. Streams with other audio pass
// through with no ffmpeg at all.
import type { CloseReason, OutputAdapter, Subscriber } from '../hub/subscriber.ts';
import type { Logger } from '../log/logger.ts';
import type { Frame } from '../media/frame.ts';
import type { AudioTrack, Track } from '../media/track.ts';
import { TRANSCODED_AAC_TRACK } from './audio-transcoder.ts';

/** What the adapter needs of a transcoder. */
export interface AudioTranscoding {
  write(frame: Frame): void;
  close(): void;
}

/** Starts an Opus -> AAC transcoder for `track`; null when it cannot. */
export type OpusToAacFactory = (
  track: AudioTrack,
  onFrame: (frame: Frame) => void,
) => AudioTranscoding | null;

/** See the file comment. */
export class OpusAsAacAdapter implements OutputAdapter {
  readonly #output: Subscriber;
  readonly #toAac: OpusToAacFactory;
  readonly #logger: Logger;
  readonly #applies: () => boolean;
  #transcoder: AudioTranscoding | null = null;
  /** The stream's audio is Opus: audio frames are rewritten (or dropped when no transcoder). */
  #opus = false;
  #closed = false;

  /**
   * `applies` is asked at each new set of tracks: false passes the Opus through (an enhanced
   * RTMP publisher that chose Opus for its FLV viewers).
   */
  constructor(
    output: Subscriber,
    toAac: OpusToAacFactory,
    logger: Logger,
    applies: () => boolean = () => true,
  ) {
    this.#output = output;
    this.#toAac = toAac;
    this.#logger = logger;
    this.#applies = applies;
  }

  /** True while an ffmpeg runs for this output. */
  get transcoding(): boolean {
    return this.#transcoder !== null;
  }

  onTracks(tracks: readonly Track[]): void {
    this.#stop();
    const opus = this.#applies()
      ? tracks.find((t): t is AudioTrack => t.kind === 'audio' && t.codec === 'opus')
      : undefined;
    this.#opus = opus !== undefined;
    if (opus === undefined) {
      this.#output.onTracks(tracks);
      return;
    }
    this.#transcoder = this.#toAac(opus, this.#onAac);
    // Without a transcoder the output goes without audio rather than with audio it cannot play.
    const carried: Track[] = [];
    for (const track of tracks) {
      if (track !== opus) carried.push(track);
      else if (this.#transcoder !== null) carried.push(TRANSCODED_AAC_TRACK);
    }
    this.#output.onTracks(carried);
  }

  onFrame(frame: Frame): void {
    if (!this.#opus || frame.kind !== 'audio') {
      this.#output.onFrame(frame);
      return;
    }
    if (this.#transcoder === null) return;
    if (frame.sequenceHeader) {
      this.#output.onFrame({
        kind: 'audio',
        track: TRANSCODED_AAC_TRACK,
        timescale: frame.timescale,
        dts: frame.dts,
        pts: frame.pts,
        keyframe: false,
        sequenceHeader: true,
        payload: TRANSCODED_AAC_TRACK.config,
      });
      return;
    }
    this.#transcoder.write(frame);
  }

  onClose(reason: CloseReason): void {
    this.dispose();
    this.#output.onClose(reason);
  }

  dispose(): void {
    this.#closed = true;
    this.#stop();
  }

  #stop(): void {
    this.#transcoder?.close();
    this.#transcoder = null;
  }

  /** An AAC frame from ffmpeg (asynchronous: outside the stream's own guard, so guarded here). */
  readonly #onAac = (frame: Frame): void => {
    if (this.#closed) return;
    try {
      this.#output.onFrame(frame);
    } catch (error) {
      this.#logger.error({ err: error }, 'an output refused transcoded audio; transcoding stops');
      this.#stop();
    }
  };
}

interface SharedEntry {
  readonly track: AudioTrack;
  readonly transcoder: AudioTranscoding;
  readonly sinks: Set<(frame: Frame) => void>;
  /** Seconds of the last frame written: every output hands the same frames, each goes in once. */
  lastDts: number;
}

/**
 * One transcoder per stream, whichever of its outputs need it (HTTP-FLV, WS-FLV, RTMP): the
 * first handle starts it, the last closed stops it. Each output writes the stream's frames; a
 * frame is fed once (later outputs' replays of older frames are skipped), and every output gets
 * every transcoded frame from when it joined.
 */
export class SharedAudioTranscoders {
  readonly #start: (path: string, ...rest: Parameters<OpusToAacFactory>) => AudioTranscoding | null;
  readonly #byPath = new Map<string, SharedEntry>();

  /** `start` makes the transcoder of stream `path` (null when it cannot). */
  constructor(
    start: (path: string, ...rest: Parameters<OpusToAacFactory>) => AudioTranscoding | null,
  ) {
    this.#start = start;
  }

  /** Streams with a transcoder running. */
  get size(): number {
    return this.#byPath.size;
  }

  /** A factory for the adapters of stream `path`. */
  forPath(path: string): OpusToAacFactory {
    return (track, onFrame) => this.#acquire(path, track, onFrame);
  }

  #acquire(
    path: string,
    track: AudioTrack,
    onFrame: (frame: Frame) => void,
  ): AudioTranscoding | null {
    const existing = this.#byPath.get(path);
    let entry: SharedEntry | null = existing ?? null;
    if (existing !== undefined && !existing.track.config.equals(track.config)) {
      // New codec parameters (a republish): a new ffmpeg for everyone still here.
      existing.transcoder.close();
      this.#byPath.delete(path);
      entry = this.#create(path, track, existing.sinks);
    } else entry ??= this.#create(path, track, new Set());
    if (entry === null) return null;
    const held = entry;
    held.sinks.add(onFrame);
    let open = true;
    return {
      write: (frame) => {
        if (!open) return;
        const dts = frame.dts / frame.timescale;
        if (dts <= held.lastDts) return;
        held.lastDts = dts;
        held.transcoder.write(frame);
      },
      close: () => {
        if (!open) return;
        open = false;
        held.sinks.delete(onFrame);
        if (held.sinks.size > 0 || this.#byPath.get(path) !== held) return;
        held.transcoder.close();
        this.#byPath.delete(path);
      },
    };
  }

  #create(path: string, track: AudioTrack, sinks: Set<(frame: Frame) => void>): SharedEntry | null {
    const transcoder = this.#start(path, track, (frame) => {
      for (const sink of sinks) sink(frame);
    });
    if (transcoder === null) return null;
    const entry: SharedEntry = { track, transcoder, sinks, lastDts: -Infinity };
    this.#byPath.set(path, entry);
    return entry;
  }
}
