// PagesHandler: the human side of the HTTP port. GET / lists live streams, GET /watch/<app>/<name>
// is the browser player, GET /assets/<file> serves its allow-listed scripts and stylesheet.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamHub } from '../../hub/stream-hub.ts';
import { checkStreamPath } from '../../hub/stream-path.ts';
import { CONTENT_TYPES, PUBLIC_ASSETS, StaticAssets, type Asset } from './static-assets.ts';
import { renderStreamListPage, type LiveStreamSummary } from './stream-list-page.ts';
import { originOf, streamUrlsOf } from './stream-urls.ts';
import { renderWatchPage } from './watch-page.ts';

/** What the handler is built from. */
export interface PagesHandlerOptions {
  readonly hub: StreamHub;
  /** The RTMP port shown in rtmp:// URLs (default 1935, which is left out). */
  readonly rtmpPort?: number;
  /** The DVR window of a stream in seconds (hls.dvrWindowS): the watch page shows a seek bar. */
  readonly dvrWindowS?: (path: string) => number;
}

/** A request this handler answers. */
type Route =
  | { readonly kind: 'list' }
  | { readonly kind: 'watch'; readonly streamPath: string }
  | { readonly kind: 'asset'; readonly name: string };

const WATCH_PREFIX = '/watch/';
const ASSETS_PREFIX = '/assets/';
/** Static files may be cached for an hour; pages are revalidated every time. */
const ASSET_CACHE_CONTROL = 'public, max-age=3600';
const PAGE_CACHE_CONTROL = 'no-cache';
/**
 * The pages load only onair's own scripts, styles and media. hls.js runs its transmuxer in a
 * blob: worker; both players attach MediaSource through blob: URLs.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Serves the stream list, the watch page and their static files. */
export class PagesHandler {
  readonly #hub: StreamHub;
  #rtmpPort: number | undefined;
  #srtPort: number | undefined;
  readonly #assets = new StaticAssets();
  readonly #dvrWindowS: (path: string) => number;

  constructor(options: PagesHandlerOptions) {
    this.#hub = options.hub;
    this.#dvrWindowS = options.dvrWindowS ?? ((): number => 0);
    this.#rtmpPort = options.rtmpPort;
  }

  /** The RTMP port actually bound (known only after listening; 0 in config means any). */
  setRtmpPort(port: number): void {
    this.#rtmpPort = port;
  }

  /** The SRT port to show (null: SRT is off, no SRT URLs). */
  setSrtPort(port: number | null): void {
    this.#srtPort = port ?? undefined;
  }

  /**
   * Answers `req` when `path` (the request path, percent-decoded once) is one of this handler's
   * routes. Returns true when it handled the request, false to let the caller go on.
   */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const route = routeOf(path);
    if (route === null) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end();
      return true;
    }
    switch (route.kind) {
      case 'list':
        this.#sendList(req, res);
        break;
      case 'watch':
        this.#sendWatch(req, res, route.streamPath);
        break;
      case 'asset':
        this.#sendAsset(req, res, route.name);
        break;
    }
    return true;
  }

  #sendList(req: IncomingMessage, res: ServerResponse): void {
    const streams: LiveStreamSummary[] = [];
    for (const stream of this.#hub.streams()) {
      if (stream.publisher === null) continue;
      streams.push({
        path: stream.path,
        tracks: stream.tracks,
        publishedAtMs: stream.publishedAtMs,
      });
    }
    const html = renderStreamListPage({
      streams,
      origin: originOf(req.headers.host, req.headers['x-forwarded-proto']),
      nowMs: Date.now(),
      ...(this.#rtmpPort === undefined ? {} : { rtmpPort: this.#rtmpPort }),
      ...(this.#srtPort === undefined ? {} : { srtPort: this.#srtPort }),
    });
    sendPage(req, res, html);
  }

  #sendWatch(req: IncomingMessage, res: ServerResponse, streamPath: string): void {
    const refused = checkStreamPath(streamPath);
    if (refused !== null) {
      res
        .writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end(`Invalid stream name: ${refused}\n`);
      return;
    }
    const origin = originOf(req.headers.host, req.headers['x-forwarded-proto']);
    const urls = streamUrlsOf(streamPath, origin, this.#rtmpPort, this.#srtPort ?? null);
    this.#withAsset(res, 'watch.html', (template) => {
      sendPage(
        req,
        res,
        renderWatchPage(template.body.toString('utf8'), {
          path: streamPath,
          urls,
          dvrWindowS: this.#dvrWindowS(streamPath),
        }),
      );
    });
  }

  #sendAsset(req: IncomingMessage, res: ServerResponse, name: string): void {
    this.#withAsset(res, name, (asset) => {
      const headers = {
        'Content-Type': asset.contentType,
        'Cache-Control': ASSET_CACHE_CONTROL,
        ETag: asset.etag,
        'X-Content-Type-Options': 'nosniff',
      };
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, { ...headers, 'Content-Length': asset.body.length });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
    });
  }

  /** Runs `send` with the loaded asset, or answers 500 when the file cannot be read. */
  #withAsset(res: ServerResponse, name: string, send: (asset: Asset) => void): void {
    void this.#assets
      .get(name)
      .then(send, () => {
        if (res.headersSent) return;
        res
          .writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' })
          .end(`Cannot read ${name}\n`);
      })
      .catch(() => {
        res.destroy();
      });
  }
}

/** The route of a request path, or null when the path is not this handler's. */
function routeOf(path: string): Route | null {
  if (path === '/') return { kind: 'list' };
  if (path.startsWith(WATCH_PREFIX))
    return { kind: 'watch', streamPath: path.substring(WATCH_PREFIX.length) };
  if (path.startsWith(ASSETS_PREFIX)) {
    const name = path.substring(ASSETS_PREFIX.length);
    if (PUBLIC_ASSETS.has(name)) return { kind: 'asset', name };
  }
  return null;
}

/** Sends an HTML page rendered for this request: never cached without revalidation. */
function sendPage(req: IncomingMessage, res: ServerResponse, html: string): void {
  const body = Buffer.from(html, 'utf8');
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES.html,
    'Content-Length': body.length,
    'Cache-Control': PAGE_CACHE_CONTROL,
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
