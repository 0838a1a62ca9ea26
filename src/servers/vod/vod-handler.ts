// Replay of recordings over HTTP: GET /vod/<id>.m3u8 is an HLS playlist of the recording file
// itself (EXT-X-MAP and every segment a byte range of /vod/<id>.mp4, no copy, no re-encoding);
// a recording still being written is an EVENT playlist that grows, a closed one a VOD playlist.
// GET /vod/<id>.mp4 serves the file, with range requests. A private stream's recordings need
// its play token for the playlist, and the playlist's signed `hs=` for the media, as live HLS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessControl } from '../../access/access-control.ts';
import type { Logger } from '../../log/logger.ts';
import type { RecordingCatalogue } from '../../recording/catalogue.ts';
import type { FileIndex, FragmentRef } from '../../recording/file-index.ts';
import { sendFile } from '../../recording/http-range.ts';
import type { RecordingInfo } from '../../recording/recording-info.ts';

/** `/vod/<16 hex>.m3u8` or `.mp4`: other `/vod/...` paths stay live streams of an app `vod`. */
const VOD_TARGET = /^\/vod\/([0-9a-f]{16})\.(m3u8|mp4)$/;

/** Whether a watch page path (`vod/<16 hex>`) is a recording's, not a live stream's. */
export function isRecordingPath(path: string): boolean {
  return /^vod\/[0-9a-f]{16}$/.test(path);
}

/** EXT-X-TARGETDURATION of a recording still being written (fragmenters cut at 10 s at most). */
const LIVE_TARGET_DURATION_S = 10;

/** Segments of the playlist: fragments grouped from a keyframe to at least this long. */
const SEGMENT_TARGET_MS = 2000;

/** A parsed replay URL. */
export interface VodTarget {
  readonly id: string;
  readonly kind: 'playlist' | 'file';
}

/** What the handler is built from. */
export interface VodHandlerOptions {
  readonly catalogue: RecordingCatalogue;
  readonly access: AccessControl;
  readonly logger: Logger;
  readonly cors: boolean;
  readonly clientAddress: (req: IncomingMessage) => string;
}

/** See the file comment. */
export class VodHandler {
  readonly #options: VodHandlerOptions;

  constructor(options: VodHandlerOptions) {
    this.#options = options;
  }

  /** The replay target of a URL path, or null when it is not one. */
  static parseTarget(path: string): VodTarget | null {
    const match = VOD_TARGET.exec(path);
    if (match === null) return null;
    return { id: match[1] ?? '', kind: match[2] === 'm3u8' ? 'playlist' : 'file' };
  }

  handle(
    req: IncomingMessage,
    res: ServerResponse,
    target: VodTarget,
    search: URLSearchParams,
  ): void {
    const info = this.#options.catalogue.get(target.id);
    if (info === undefined) {
      this.#reply(res, 404, 'No such recording\n');
      return;
    }
    const { access } = this.#options;
    if (target.kind === 'file') {
      // The media of a private stream: the playlist's signed hs=, or a play token (download).
      if (search.has('token') || req.headers.authorization?.startsWith('Bearer ')) {
        this.#authorized(req, res, info, search, () => {
          this.#file(req, res, info);
        });
        return;
      }
      if (!access.checkHlsMedia(info.stream, search.toString())) {
        this.#reply(res, 403, 'This recording is private: a playback token is needed\n');
        return;
      }
      this.#file(req, res, info);
      return;
    }
    this.#authorized(req, res, info, search, () => {
      void this.#playlist(res, info).catch((error: unknown) => {
        this.#options.logger.error({ err: error, recording: info.id }, 'replay playlist failed');
        if (!res.headersSent) this.#reply(res, 500, 'The recording cannot be read\n');
        else res.destroy();
      });
    });
  }

  /** Runs `then` when the stream's play rules (address rules, private token) allow it. */
  #authorized(
    req: IncomingMessage,
    res: ServerResponse,
    info: RecordingInfo,
    search: URLSearchParams,
    then: () => void,
  ): void {
    const authorization = req.headers.authorization;
    this.#options.access
      .authorizePlay({
        path: info.stream,
        ip: this.#options.clientAddress(req),
        protocol: 'vod',
        query: search.toString(),
        ...(authorization?.startsWith('Bearer ') ? { bearer: authorization.slice(7) } : {}),
        counted: false,
        // Replay is not a live session: the rules and the token decide, no on_play is asked.
        probe: true,
      })
      .then(
        (result) => {
          if (res.destroyed) return;
          if (!result.ok) this.#reply(res, result.status, `${result.message}\n`);
          else then();
        },
        (error: unknown) => {
          this.#options.logger.error({ err: error }, 'replay authorization failed');
          this.#reply(res, 503, 'Authorization failed\n');
        },
      );
  }

  #file(req: IncomingMessage, res: ServerResponse, info: RecordingInfo): void {
    const { catalogue } = this.#options;
    sendFile(req, res, {
      path: catalogue.pathOf(info),
      size: catalogue.readableBytes(info),
      contentType: 'video/mp4',
      headers: {
        // A file being written grows: only a closed one may be cached for good.
        'Cache-Control': catalogue.isLive(info.id) ? 'no-cache' : 'public, max-age=86400',
        ...(this.#options.cors ? { 'Access-Control-Allow-Origin': '*' } : {}),
      },
    });
  }

  async #playlist(res: ServerResponse, info: RecordingInfo): Promise<void> {
    const { catalogue, access } = this.#options;
    const index = await catalogue.index(info);
    if (res.destroyed) return;
    const query = access.hlsMediaQuery(info.stream);
    const body = renderVodPlaylist(index, {
      uri: `${info.id}.mp4${query ? `?${query}` : ''}`,
      live: catalogue.isLive(info.id),
      startMs: info.startMs,
    });
    res.writeHead(200, {
      'Content-Type': 'application/vnd.apple.mpegurl',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': catalogue.isLive(info.id) ? 'no-cache' : 'max-age=60',
      ...(this.#options.cors ? { 'Access-Control-Allow-Origin': '*' } : {}),
    });
    res.end(body);
  }

  #reply(res: ServerResponse, status: number, text: string): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(text);
  }
}

/** Groups fragments into segments: each starts on a keyframe and lasts at least the target. */
export function vodSegments(fragments: readonly FragmentRef[]): FragmentRef[][] {
  const segments: FragmentRef[][] = [];
  let current: FragmentRef[] = [];
  let currentMs = 0;
  for (const fragment of fragments) {
    if (current.length > 0 && fragment.independent && currentMs >= SEGMENT_TARGET_MS) {
      segments.push(current);
      current = [];
      currentMs = 0;
    }
    if (current.length === 0 && !fragment.independent && segments.length === 0) continue;
    current.push(fragment);
    currentMs += fragment.durationMs;
  }
  if (current.length > 0) segments.push(current);
  return segments;
}

/**
 * An HLS playlist (RFC 8216bis) of one fMP4 file: EXT-X-MAP is the file's init, each segment a
 * byte range of consecutive fragments. `live`: an EVENT playlist without ENDLIST (it grows).
 */
export function renderVodPlaylist(
  index: FileIndex,
  options: { readonly uri: string; readonly live: boolean; readonly startMs: number },
): string {
  const segments = vodSegments(index.fragments);
  // A listed segment never changes (RFC 8216bis 6.2.1): while the file grows, its last
  // segment is listed only once the keyframe that ends it is on disk.
  if (options.live) segments.pop();
  const durationsS = segments.map((s) => s.reduce((sum, f) => sum + f.durationMs, 0) / 1000);
  const longestS = Math.ceil(Math.max(0, ...durationsS));
  // EXT-X-TARGETDURATION must not change while a playlist grows (RFC 8216bis 6.2.1): a live
  // one announces the longest a segment is cut at (10 s without a keyframe), or more.
  const target = Math.max(1, longestS, options.live ? LIVE_TARGET_DURATION_S : 0);
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-PLAYLIST-TYPE:${options.live ? 'EVENT' : 'VOD'}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${options.uri}",BYTERANGE="${index.initEnd}@0"`,
  ];
  segments.forEach((segment, i) => {
    const first = segment[0] as FragmentRef;
    const last = segment.at(-1) as FragmentRef;
    const length = last.offset + last.size - first.offset;
    if (i === 0) {
      lines.push(
        `#EXT-X-PROGRAM-DATE-TIME:${new Date(options.startMs + first.timeMs).toISOString()}`,
      );
    }
    lines.push(`#EXTINF:${(durationsS[i] ?? 0).toFixed(3)},`);
    lines.push(`#EXT-X-BYTERANGE:${length}@${first.offset}`);
    lines.push(options.uri);
  });
  if (!options.live) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
