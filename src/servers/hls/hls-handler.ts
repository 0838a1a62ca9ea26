// HLS and LL-HLS over HTTP: playlists (with blocking reload and delta updates), parts,
// segments and init segments of every stream, each muxed once in memory and shared by all.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { HlsConfig, StreamsConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Stream } from '../../hub/stream.ts';
import { parseHlsQuery } from '../../codecs/m3u8.ts';
import { entryKey, HlsEntries, type HlsEntry } from './hls-entries.ts';
import { checkStreamPath } from '../../hub/stream-path.ts';
import {
  carryOf,
  renderMultivariant,
  renditionReport,
  variantOf,
  variantUri,
  type Carry,
  type PlaylistStyle,
} from './hls-variants.ts';
import { removeStaleDvrFolders } from './hls-dvr.ts';
import { explainProfile, hlsProfile, type HlsProfile } from './hls-profile.ts';
import { renderPlaylist, type PlaylistRequest } from './hls-playlist.ts';
import { HlsWaiters } from './hls-waiters.ts';
import { HlsSessions, type HlsAdmission } from './hls-sessions.ts';
import type { SessionRegistry, SessionSlot } from '../../hub/session-registry.ts';
import { NODE_FULL_CODES, type AccessControl } from '../../access/access-control.ts';
import {
  findMedia,
  hasPart,
  parseHlsTarget,
  playlistCacheControl,
  playlistReady,
  requestKind,
  type HlsRequestKind,
  type HlsTarget,
} from './hls-requests.ts';

export type { HlsRequestKind, HlsTarget } from './hls-requests.ts';

/** What the handler is built from. */
export interface HlsHandlerOptions {
  readonly hub: StreamHub;
  readonly config: HlsConfig;
  /** Per-stream settings: `streams.<path>.hls.profile` overrides `hls.profile`. */
  readonly streams?: StreamsConfig;
  readonly cors: boolean;
  readonly logger: Logger;
  /** Play decisions for playlists; signatures on the media URIs of private streams. */
  readonly access: AccessControl;
  /** Where HLS viewers are registered (address + user agent + stream, until idle). */
  readonly sessions: SessionRegistry;
  /** limits.countHlsViewers: a new session is checked against the viewer limits first. */
  readonly countViewers?: boolean;
  /** The client's address of a request (behind trusted proxies, the one they name). */
  readonly clientAddress?: (req: IncomingMessage) => string;
  /** Whether the process is over its memory budget: no new segmenter is made. */
  readonly overMemoryBudget?: () => boolean;
  /**
   * A playlist for a stream not published here waits for this (a pull from another node):
   * true once the stream is live here. Without it such a playlist is a fast 404.
   */
  readonly awaitStream?: (path: string) => Promise<boolean>;
  /**
   * Where a new viewer goes when this node is full (see NODE_FULL_CODES): the HTTP base of a
   * node with room, or null. Without it a full node refuses.
   */
  readonly redirect?: (path: string, code: string) => Promise<string | null>;
  /**
   * Why this node takes no new viewer now (`max-egress`...), or null. Checked for a request
   * that would start an HLS session, counted or not.
   */
  readonly nodeFull?: () => string | null;
  /**
   * Where DVR windows (hls.dvrWindowS) keep their segments: `<dataDir>/dvr`. Without it no
   * stream has a DVR window.
   */
  readonly dvrDir?: string;
  /**
   * ABR ladders: the rendition paths being published for a source (its multivariant playlist
   * lists them) and the source of a rendition path (whose cuts it follows), or null.
   */
  readonly ladder?: {
    readonly renditionsOf: (path: string) => readonly string[];
    readonly sourceOf: (path: string) => string | null;
    /**
     * A viewer asked for the multivariant playlist of `path` or one of its variants (an
     * on-demand ladder starts, and runs while they ask). True while renditions are on their way.
     */
    readonly watch?: (path: string) => boolean;
  };
}

/** Serves `/<path>.m3u8`, `/<path>/index.m3u8` and the media files they list. */
export class HlsHandler {
  readonly #options: HlsHandlerOptions;
  readonly #logger: Logger;
  readonly #profile: HlsProfile;
  readonly #entries: HlsEntries;
  readonly #waiters: HlsWaiters;
  readonly #viewers: HlsSessions;
  /** Requests that reached the handler, by kind (what a cache in front passes on). */
  readonly #requests: Record<HlsRequestKind, number> = {
    playlist: 0,
    blocking_playlist: 0,
    part: 0,
    segment: 0,
    init: 0,
  };
  readonly #corsHeader: readonly string[];
  /** This process's folder of DVR windows (one subfolder per stream), or null. */
  readonly #dvrDir: string | null;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: HlsHandlerOptions) {
    this.#options = options;
    this.#corsHeader = options.cors ? ['Access-Control-Allow-Origin', '*'] : [];
    this.#viewers = new HlsSessions(options.sessions, {
      maxPerIp: options.config.maxSessionsPerIp,
    });
    this.#logger = options.logger.child({ component: 'hls' });
    this.#profile = hlsProfile(options.config.profile);
    this.#waiters = new HlsWaiters({
      maxHeld: options.config.maxHeldRequests,
      maxHeldPerIp: options.config.maxHeldRequestsPerIp,
    });
    this.#dvrDir = options.dvrDir === undefined ? null : join(options.dvrDir, String(process.pid));
    this.#entries = new HlsEntries({
      hub: options.hub,
      config: options.config,
      ...(options.streams ? { streams: options.streams } : {}),
      profile: this.#profile,
      dvrDir: this.#dvrDir,
      logger: this.#logger,
      sourceOf: (path) => options.ladder?.sourceOf(path) ?? null,
      onUpdate: () => {
        this.#waiters.check();
      },
    });
    const dvrStreams =
      options.config.dvrWindowS > 0 ||
      Object.values(options.streams ?? {}).some((settings) => (settings.hls?.dvrWindowS ?? 0) > 0);
    if (this.#dvrDir !== null && options.dvrDir !== undefined && dvrStreams) {
      // What an earlier process with this pid left (in a container onair is always pid 1),
      // before this one writes there; then what processes that are gone left.
      rmSync(this.#dvrDir, { recursive: true, force: true });
      void removeStaleDvrFolders(options.dvrDir).catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'could not clean old DVR folders');
      });
      // A DVR window fills from the publish on, whether or not anyone watches yet.
      const { events } = options.hub;
      const begin = (stream: Stream): void => {
        if (
          this.#entries.dvrWindowS(stream.path) > 0 &&
          this.#options.overMemoryBudget?.() !== true
        )
          this.#entries.entryFor(stream.path);
      };
      this.#unsubscribe.push(
        events.on('published', (event) => {
          begin(event.stream);
        }),
        events.on('resumed', (event) => {
          begin(event.stream);
        }),
      );
    }
  }

  /** What the configured profile means for players, for the start-up log and the API. */
  get explanation(): string {
    const overrides = Object.entries(this.#options.streams ?? {}).flatMap(([path, settings]) =>
      settings.hls?.profile === undefined ? [] : [`${path} uses ${settings.hls.profile}`],
    );
    const general = explainProfile(this.#profile);
    return overrides.length === 0 ? general : `${general} Per stream: ${overrides.join(', ')}.`;
  }

  /** Parses an HLS URL path, or returns null when it is not an HLS URL. */
  static parseTarget(path: string): HlsTarget | null {
    return parseHlsTarget(path);
  }

  /** Handles a GET/HEAD for an HLS target. */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    target: HlsTarget,
    search: URLSearchParams,
    awaited = false,
  ): void {
    if (!awaited) this.#requests[requestKind(target, search)]++; // a retry is the same request
    if (checkStreamPath(target.path) !== null) {
      this.#reply(res, 400, 'Bad stream name\n');
      return;
    }
    if (
      target.kind === 'playlist' &&
      !this.#entries.has(entryKey(target.path, carryOf(search))) &&
      this.#options.overMemoryBudget?.() === true
    ) {
      // A new segmenter holds a window of segments in memory: not while over the budget.
      this.#logger.warn({ stream: target.path, reason: 'memory-budget' }, 'HLS refused');
      this.#reply(res, 503, 'The server is at its memory budget; try again later\n');
      return;
    }
    const entry =
      target.kind === 'playlist'
        ? this.#entries.entryFor(target.path, carryOf(search))
        : this.#entries.withId(target.path, target.id);
    const { awaitStream } = this.#options;
    if (entry === undefined && target.kind === 'playlist' && awaitStream && !awaited) {
      // Another node may have it: this one pulls it, then answers (once) as if it had it.
      awaitStream(target.path).then(
        () => {
          if (!res.destroyed) this.handle(req, res, target, search, true);
        },
        (error: unknown) => {
          this.#logger.error({ err: error, stream: target.path }, 'HLS pull failed');
          if (!res.destroyed) this.#reply(res, 404, 'No such stream\n');
        },
      );
      return;
    }
    const wrongContainer = target.kind === 'media' && target.container !== entry?.profile.container;
    if (
      entry === undefined ||
      wrongContainer ||
      (target.kind !== 'playlist' && target.id !== entry.id)
    ) {
      this.#reply(res, 404, 'No such stream\n');
      return;
    }
    entry.lastRequestMs = Date.now();
    // A rendition's viewers keep its source's cuts coming.
    if (entry.follows) entry.follows.lastRequestMs = entry.lastRequestMs;
    const { access } = this.#options;
    if (target.kind !== 'playlist') {
      if (!access.checkHlsMedia(target.path, search.toString())) {
        this.#reply(res, 403, 'This media URL is not signed for this stream (or expired)\n');
        return;
      }
      // Media never starts a session: only an allowed playlist request does.
      if (this.#admit(req, target.path, false) === 'kicked') {
        this.#reply(res, 403, 'This viewer was disconnected by an operator\n');
        return;
      }
      if (target.kind === 'init') this.#init(req, res, entry, target.version);
      else this.#media(req, res, entry, target.msn, target.part);
      return;
    }
    const authorization = req.headers.authorization;
    const ip = this.#addressOf(req);
    const userAgent = req.headers['user-agent'];
    // With limits.countHlsViewers, the request that would start a session is checked against
    // the viewer limits, and only a checked one may start it; reloads are counted already.
    const countViewers = this.#options.countViewers === true;
    const starts = this.#viewers.wouldStart(target.path, ip, userAgent);
    const counted = countViewers && starts;
    const full = starts ? (this.#options.nodeFull?.() ?? null) : null;
    if (full !== null) {
      this.#sendElsewhere(req, res, target.path, {
        status: 503,
        code: full,
        message: 'This server has no room for another viewer; try again later',
      });
      return;
    }
    access
      .authorizePlay({
        path: target.path,
        ip,
        protocol: 'hls',
        query: search.toString(),
        ...(authorization?.startsWith('Bearer ') ? { bearer: authorization.slice(7) } : {}),
        // The id of this viewer's HLS session (address + user agent + stream), so on_play and
        // the on_stop sent when it goes idle match.
        sessionId: this.#viewers.idOf(target.path, ip, userAgent),
        counted,
        // The room a counted new viewer was checked for is held until its session starts.
        reserve: counted,
        connectionless: true,
      })
      .then(
        (result) => {
          if (!result.ok) {
            if (NODE_FULL_CODES.has(result.code))
              this.#sendElsewhere(req, res, target.path, result);
            else this.#reply(res, result.status, `${result.message}\n`);
            return;
          }
          const slot = result.slot;
          if (res.destroyed) {
            slot?.release(); // the client left during the decision
            return;
          }
          const admission = this.#admit(req, target.path, !countViewers || counted, slot);
          slot?.release(); // no-op when the session took it
          if (admission === 'kicked') {
            this.#reply(res, 403, 'This viewer was disconnected by an operator\n');
            return;
          }
          this.#answerPlaylist(req, res, entry, target.prefix, search);
        },
        (error: unknown) => {
          this.#logger.error({ err: error }, 'HLS play authorization failed');
          this.#reply(res, 503, 'Authorization failed\n');
        },
      );
  }

  /**
   * A stream's own URL is its multivariant playlist while it has renditions. A ladder that is
   * starting (on demand, or just published) is waited for, bounded, so the first viewer gets
   * the variants rather than a playlist with none. A variant's playlist keeps its ladder going.
   */
  #answerPlaylist(
    req: IncomingMessage,
    res: ServerResponse,
    entry: HlsEntry,
    prefix: string,
    search: URLSearchParams,
  ): void {
    const source = entry.follows ?? entry;
    const coming = this.#options.ladder?.watch?.(source.stream.path) === true;
    const own = search.get('variant') === null && entry.follows === null && entry.carry === null;
    const answer = (): void => {
      if (own && this.#renditionsOf(entry).length > 0) {
        this.#multivariant(req, res, entry, prefix, search);
      } else this.#playlist(req, res, entry, prefix, search);
    };
    if (!own || !coming || this.#renditionsOf(entry).length > 0) {
      answer();
      return;
    }
    // A viewer waiting keeps asking (the ladder runs for it), until its renditions are live or
    // will not come.
    const ready = (): boolean => {
      entry.lastRequestMs = Date.now(); // its window is not idle either
      return (
        entry.segmenter.ended ||
        this.#renditionsOf(entry).length > 0 ||
        this.#options.ladder?.watch?.(source.stream.path) !== true
      );
    };
    this.#hold(req, res, ready, answer, Math.max(3 * entry.profile.segmentTargetS, 6) * 1000);
  }

  /** Figures for metrics: streams segmented now, parts and segments made, held requests,
   * requests served without a viewer session (over hls.maxSessionsPerIp), requests by kind. */
  stats(): {
    streams: number;
    parts: number;
    segments: number;
    heldRequests: number;
    untrackedRequests: number;
    requests: Readonly<Record<HlsRequestKind, number>>;
  } {
    const { parts, segments, streams } = this.#entries.made();
    return {
      streams,
      parts,
      segments,
      heldRequests: this.#waiters.size,
      untrackedRequests: this.#viewers.untrackedRequests,
      requests: { ...this.#requests },
    };
  }

  /**
   * While the process is over its memory budget, every segmenter keeps the shortest window a
   * live playlist may have (HlsWindow.lean); after, windows grow back as segments are made.
   */
  set lean(lean: boolean) {
    this.#entries.lean = lean;
  }

  /** Stops every segmenter and answers held requests (shutdown). */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#entries.close();
    this.#waiters.closeAll();
    this.#viewers.close();
  }

  #addressOf(req: IncomingMessage): string {
    return this.#options.clientAddress?.(req) ?? req.socket.remoteAddress ?? 'unknown';
  }

  /** Admits a request of this request's viewer (starting its session when `start`). */
  #admit(req: IncomingMessage, path: string, start: boolean, slot?: SessionSlot): HlsAdmission {
    return this.#viewers.admit(path, this.#addressOf(req), req.headers['user-agent'], start, slot);
  }

  /** Counts `bytes` sent to this request's viewer. */
  #countViewer(req: IncomingMessage, path: string, bytes: number): void {
    this.#viewers.sent(path, this.#addressOf(req), req.headers['user-agent'], bytes);
  }

  #playlist(
    req: IncomingMessage,
    res: ServerResponse,
    entry: HlsEntry,
    prefix: string,
    search: URLSearchParams,
  ): void {
    const query = parseHlsQuery(search);
    if ('error' in query) {
      this.#reply(res, 400, `${query.error}\n`);
      return;
    }
    const { segmenter } = entry;
    const mediaQuery = this.#options.access.hlsMediaQuery(entry.stream.path);
    const style: PlaylistStyle = prefix === '' ? 'index' : 'flat';
    const request = (): PlaylistRequest => ({
      prefix,
      id: entry.id,
      skip: query.skip !== null,
      mediaQuery,
      variants: this.#otherVariants(entry).map((other) => other.segmenter),
      renditionReports: this.#otherVariants(entry).flatMap((other) => {
        const report = renditionReport(
          other.segmenter,
          variantUri(other.stream.path, style, variantOf(other)),
        );
        return report === null ? [] : [report];
      }),
    });
    const lastMsn = segmenter.current?.msn ?? segmenter.segments.at(-1)?.msn ?? -1;
    if (query.msn !== undefined && query.msn > lastMsn + 2 && lastMsn >= 0) {
      this.#reply(
        res,
        400,
        `_HLS_msn ${query.msn} is more than two segments ahead of ${lastMsn}\n`,
      );
      return;
    }
    const targetS = entry.profile.segmentTargetS;
    const hasContent = (): boolean => segmenter.ended || playlistReady(segmenter);
    const ready =
      query.msn === undefined
        ? hasContent
        : (): boolean => segmenter.ended || hasPart(segmenter, query.msn ?? 0, query.part);
    const respond = (): void => {
      if (!hasContent()) {
        this.#reply(res, 404, 'The stream has no segment yet\n');
        return;
      }
      const key = `${prefix}|${query.skip !== null ? 'skip' : ''}|${mediaQuery}`;
      let body = entry.playlists.get(key);
      if (body === undefined) {
        body = Buffer.from(renderPlaylist(segmenter, request()), 'utf8');
        entry.playlists.set(key, body);
      }
      this.#countViewer(req, entry.stream.path, body.length);
      const cacheControl = playlistCacheControl({
        blocking: query.msn !== undefined,
        partTargetS: entry.profile.partTargetS,
        segmentTargetS: targetS,
        authorized: req.headers.authorization !== undefined,
      });
      this.#send(req, res, body, 'application/vnd.apple.mpegurl', cacheControl);
    };
    this.#hold(req, res, ready, respond, Math.max(3 * targetS, 6) * 1000);
  }

  /** The rendition paths of `entry`'s ladder being published now (none for a rendition). */
  #renditionsOf(entry: HlsEntry): readonly string[] {
    if (entry.follows !== null) return [];
    return this.#options.ladder?.renditionsOf(entry.stream.path) ?? [];
  }

  /**
   * The entries of the other variants of `entry`'s ladder that exist now: with every track
   * (`?variant=source` and the renditions' own playlists), or, for one with a kind of track,
   * the video-only variants and the audio rendition of the multivariant playlist.
   */
  #otherVariants(entry: HlsEntry): HlsEntry[] {
    const source = entry.follows ?? entry;
    const paths = [source.stream.path, ...this.#renditionsOf(source)];
    const keys =
      entry.carry === null
        ? paths
        : [...paths.map((path) => entryKey(path, 'video')), entryKey(source.stream.path, 'audio')];
    return keys
      .map((key) => this.#entries.get(key))
      .filter((other): other is HlsEntry => other !== undefined && other !== entry);
  }

  /**
   * The multivariant playlist of a stream with an ABR ladder, once each variant has a segment
   * (or after a wait, the ones that have). When the source has audio, the variants are the
   * video of the source and of each rendition (`?variant=video`), and the source's audio is one
   * rendition apart (`?variant=audio`) that every variant names: a player switching variant
   * keeps the same audio and never fetches it twice. Without audio, the variants are the
   * source's (`?variant=source`) and the renditions' own playlists. The viewer's token is passed
   * on to every URI.
   */
  #multivariant(
    req: IncomingMessage,
    res: ServerResponse,
    entry: HlsEntry,
    prefix: string,
    search: URLSearchParams,
  ): void {
    const style: PlaylistStyle = prefix === '' ? 'index' : 'flat';
    const token = search.get('token');
    const query = token === null ? '' : new URLSearchParams({ token }).toString();
    const over = this.#options.overMemoryBudget?.() === true;
    const apart = entry.segmenter.carriedTracks.some((track) => track.kind === 'audio');
    const carry = apart ? 'video' : null;
    const find = (path: string, kind: Carry | null): HlsEntry | undefined =>
      this.#entries.get(entryKey(path, kind)) ??
      (over ? undefined : this.#entries.entryFor(path, kind));
    const variants: HlsEntry[] = [];
    for (const path of [entry.stream.path, ...this.#renditionsOf(entry)]) {
      const variant = find(path, carry);
      if (variant !== undefined) variants.push(variant);
    }
    const audio = apart ? find(entry.stream.path, 'audio') : undefined;
    const all = audio === undefined ? variants : [...variants, audio];
    const ready = (): boolean =>
      all.every((variant) => variant.segmenter.ended || playlistReady(variant.segmenter));
    const respond = (): void => {
      const text = renderMultivariant(
        variants.map((variant) => ({
          window: variant.segmenter,
          uri: variantUri(variant.stream.path, style, variantOf(variant), query),
        })),
        audio === undefined
          ? null
          : { window: audio.segmenter, uri: variantUri(audio.stream.path, style, 'audio', query) },
      );
      if (text === null) {
        this.#reply(res, 404, 'The stream has no segment yet\n');
        return;
      }
      const body = Buffer.from(text, 'utf8');
      this.#countViewer(req, entry.stream.path, body.length);
      // It names the viewer's token and its figures move: never stored by a cache.
      this.#send(req, res, body, 'application/vnd.apple.mpegurl', 'no-store');
    };
    this.#hold(req, res, ready, respond, Math.max(3 * entry.profile.segmentTargetS, 6) * 1000);
  }

  #init(req: IncomingMessage, res: ServerResponse, entry: HlsEntry, version: number): void {
    const init = entry.segmenter.init(version);
    if (init === null) {
      this.#reply(res, 404, 'No such init segment\n');
      return;
    }
    this.#countViewer(req, entry.stream.path, init.length);
    this.#send(req, res, init, 'video/mp4', 'public, max-age=31536000, immutable');
  }

  #media(
    req: IncomingMessage,
    res: ServerResponse,
    entry: HlsEntry,
    msn: number,
    part: number | null,
  ): void {
    const { segmenter } = entry;
    const find = (): Buffer | null => findMedia(segmenter, msn, part);
    const type = entry.profile.container === 'fmp4' ? 'video/mp4' : 'video/mp2t';
    const sendMedia = (bytes: Buffer | null): void => {
      if (bytes === null) {
        this.#reply(res, 404, 'No such segment or part\n');
        return;
      }
      this.#countViewer(req, entry.stream.path, bytes.length);
      this.#send(req, res, bytes, type, 'public, max-age=31536000, immutable');
    };
    const respond = (): void => {
      sendMedia(find());
    };
    if (part === null && entry.dvr?.has(msn) === true) {
      // A segment of the DVR window: from disk (or memory, until its write is done).
      const read = entry.dvr.read(msn);
      if (read === 'busy') this.#reply(res, 503, 'Too many DVR reads at once; try again\n');
      else if (read instanceof Promise)
        read.then(sendMedia, () => {
          sendMedia(null);
        });
      else sendMedia(read);
      return;
    }
    // The next part (the preload hint) or the segment in progress is held until it exists.
    const current = segmenter.current;
    // Between segments (no segment in progress) the next is the one after the last complete.
    const { nextMsn } = segmenter;
    const upcoming =
      current !== null
        ? (msn === current.msn && (part === null || part === current.parts.length)) ||
          (msn === current.msn + 1 && part === 0)
        : msn === nextMsn && (part === null || part === 0);
    if (find() === null && upcoming && !segmenter.ended) {
      this.#hold(
        req,
        res,
        () => find() !== null || segmenter.ended,
        respond,
        entry.profile.maxSegmentS * 1000,
      );
      return;
    }
    respond();
  }

  /** Answers now when ready, else holds the request (bounded in number and time). */
  #hold(
    req: IncomingMessage,
    res: ServerResponse,
    ready: () => boolean,
    respond: () => void,
    timeoutMs: number,
  ): void {
    if (ready()) {
      respond();
      return;
    }
    const refused = this.#waiters.add({
      ip: this.#addressOf(req),
      ready,
      respond,
      timeoutMs,
      onAbort: (listener) => res.once('close', listener),
    });
    if (refused !== null) {
      this.#reply(res, refused === 'per-ip' ? 429 : 503, 'Too many held requests\n');
    }
  }

  #send(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    contentType: string,
    cacheControl: string,
  ): void {
    if (res.destroyed) return;
    // A flat header array: node:http writes it without building a header object per request.
    const headers = [
      'Content-Type',
      contentType,
      'Content-Length',
      String(body.length),
      'Cache-Control',
      cacheControl,
      ...this.#corsHeader,
    ];
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** A 302 to a node with room (path and query kept), or the refusal when there is none. */
  #sendElsewhere(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    refusal: { readonly status: number; readonly code: string; readonly message: string },
  ): void {
    const redirect = this.#options.redirect;
    if (!redirect) {
      this.#reply(res, refusal.status, `${refusal.message}\n`);
      return;
    }
    redirect(path, refusal.code).then(
      (base) => {
        if (res.destroyed || res.headersSent) return;
        if (base === null) this.#reply(res, refusal.status, `${refusal.message}\n`);
        else
          res
            .writeHead(302, [
              'Location',
              `${base}${req.url ?? '/'}`,
              'Cache-Control',
              'no-store',
              'Content-Length',
              '0',
              ...this.#corsHeader,
            ])
            .end();
      },
      () => {
        this.#reply(res, refusal.status, `${refusal.message}\n`);
      },
    );
  }

  #reply(res: ServerResponse, status: number, text: string): void {
    if (res.destroyed || res.headersSent) return;
    res
      .writeHead(status, [
        'Content-Type',
        'text/plain',
        'Cache-Control',
        'no-cache',
        ...this.#corsHeader,
      ])
      .end(text);
  }
}
