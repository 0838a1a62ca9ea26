// The renditions an RTMP publisher sends itself as enhanced RTMP multitrack video (OBS's
// multitrack video): track 0 is the stream, every other track is published as a rendition
// `APP/NAME_<height>p` (or `_track<id>` when that name is taken), registered as one of the
// stream's renditions in the hub, with no transcoding. Ends with the publisher.
import type { RtmpMessage } from '../../codecs/rtmp-message.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Publication } from '../../hub/stream.ts';
import type { Logger } from '../../log/logger.ts';
import { frameFromMessage, RtmpIngestState, type IngestSkip } from '../../media/rtmp-frames.ts';

/** Renditions one publisher may send beside its main track. */
export const MAX_RENDITION_TRACKS = 8;

interface TrackState {
  readonly ingest: RtmpIngestState;
  publication: Publication | null;
  /** Why this track is not published (logged once), or null. */
  refused: string | null;
}

/** What skipping a track's message is counted as. */
export type RenditionSkip = IngestSkip | 'rendition-before-header' | 'rendition-refused';

/** One publisher's rendition tracks. */
export class MultitrackRenditions {
  readonly #hub: StreamHub;
  readonly #source: string;
  readonly #remoteAddress: string;
  readonly #logger: Logger;
  readonly #tracks = new Map<number, TrackState>();

  constructor(options: {
    readonly hub: StreamHub;
    readonly source: string;
    readonly remoteAddress: string;
    readonly logger: Logger;
  }) {
    this.#hub = options.hub;
    this.#source = options.source;
    this.#remoteAddress = options.remoteAddress;
    this.#logger = options.logger;
  }

  /** The rendition stream paths published now. */
  get paths(): string[] {
    return [...this.#tracks.values()].flatMap((track) =>
      track.publication ? [track.publication.stream.path] : [],
    );
  }

  /** One message of track `trackId` (not 0); returns why it was skipped, or null. */
  write(trackId: number, message: RtmpMessage): RenditionSkip | null {
    let track = this.#tracks.get(trackId);
    if (track === undefined) {
      if (this.#tracks.size >= MAX_RENDITION_TRACKS) return 'rendition-refused';
      track = { ingest: new RtmpIngestState(), publication: null, refused: null };
      this.#tracks.set(trackId, track);
    }
    if (track.refused !== null) return 'rendition-refused';
    const frame = frameFromMessage(message, track.ingest);
    if (typeof frame === 'string') return frame;
    if (track.publication === null) {
      // Named from its first sequence header: the height it is encoded at.
      if (frame.track?.kind !== 'video') return 'rendition-before-header';
      const path = this.#pathFor(trackId, frame.track.height);
      const source = this.#hub.get(this.#source);
      try {
        track.publication = this.#hub.publish(path, {
          protocol: 'rtmp',
          remoteAddress: this.#remoteAddress,
          // One encoder's clock: moved on with track 0 after a reconnect.
          ...(source ? { timelineOf: source } : {}),
        });
      } catch (error) {
        track.refused = error instanceof Error ? error.message : String(error);
        this.#logger.warn(
          { stream: this.#source, rendition: path, reason: track.refused },
          'multitrack rendition not published',
        );
        return 'rendition-refused';
      }
      this.#hub.renditions.add(this.#source, path);
      this.#logger.info(
        { stream: this.#source, rendition: path, trackId },
        'multitrack rendition published',
      );
    }
    track.publication.write(frame);
    return null;
  }

  /** The publisher ended: every rendition ends with it. */
  close(): void {
    for (const track of this.#tracks.values()) {
      const publication = track.publication;
      if (publication === null) continue;
      this.#hub.renditions.remove(publication.stream.path);
      publication.close();
      track.publication = null;
    }
    this.#tracks.clear();
  }

  #pathFor(trackId: number, height: number | undefined): string {
    const taken = new Set(this.paths);
    const byHeight = height === undefined ? null : `${this.#source}_${height}p`;
    return byHeight !== null && !taken.has(byHeight) ? byHeight : `${this.#source}_track${trackId}`;
  }
}
