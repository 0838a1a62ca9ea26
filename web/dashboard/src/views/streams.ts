// #/ : the live streams (cards with thumbnail, viewers, ingest, health) and the server's figures,
// loaded once from the API and then kept current by the live feed.
import { streamApiPath } from '../api.ts';
import type { ServerInfo, StreamInfo, StreamList } from '../api-types.ts';
import { h, setText } from '../dom.ts';
import { LiveFeed } from '../feed.ts';
import {
  formatByProtocol,
  formatBytes,
  formatCodecs,
  formatDuration,
  formatKbps,
  formatNumber,
  formatResolution,
} from '../format.ts';
import { HealthTracker } from '../health.ts';
import { streamHash } from '../router.ts';
import {
  figure,
  healthBadge,
  reportError,
  setHealth,
  type Dispose,
  type ViewContext,
} from '../view.ts';

/** Thumbnails are fetched again this often. */
const THUMBNAIL_REFRESH_MS = 10_000;

/** Shows the stream list and the server card in `root`. */
export function mountStreams(root: HTMLElement, ctx: ViewContext): Dispose {
  const abort = new AbortController();
  const health = new HealthTracker();
  const cards = new Map<string, StreamCard>();
  let gotSnapshot = false;

  const server = new ServerCard();
  const grid = h('div', { id: 'streams', class: 'stream-grid', 'aria-live': 'off' });
  const empty = h(
    'p',
    { class: 'empty-note', id: 'streams-empty', hidden: true },
    'No stream is live.',
  );
  const count = h('span', { class: 'count', 'data-testid': 'stream-count' });
  root.append(
    server.element,
    h(
      'section',
      { class: 'streams-section', 'aria-labelledby': 'streams-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'streams-title' }, 'Live streams'), count),
      grid,
      empty,
    ),
  );

  function showStreams(streams: readonly StreamInfo[], nowMs: number): void {
    const sorted = [...streams].sort((a, b) => a.path.localeCompare(b.path));
    const seen = new Set<string>();
    sorted.forEach((stream, index) => {
      seen.add(stream.path);
      let card = cards.get(stream.path);
      if (card === undefined) {
        card = new StreamCard(stream, ctx, abort.signal);
        cards.set(stream.path, card);
        card.refreshThumbnail();
      }
      // Trends are timed with this browser's clock: the first figures may come from a GET.
      card.update(stream, health.observe(stream, Date.now()), nowMs);
      if (grid.children[index] !== card.element)
        grid.insertBefore(card.element, grid.children[index] ?? null);
    });
    for (const [path, card] of cards) {
      if (seen.has(path)) continue;
      card.dispose();
      cards.delete(path);
    }
    health.retain(seen);
    empty.hidden = sorted.length > 0;
    const live = sorted.filter((stream) => stream.live).length;
    setText(
      count,
      `${live} live${sorted.length > live ? `, ${sorted.length - live} waiting` : ''}`,
    );
  }

  const feed = new LiveFeed(ctx.api, {
    onSnapshot: (snapshot) => {
      gotSnapshot = true;
      const at = Date.parse(snapshot.time);
      showStreams(snapshot.streams, Number.isNaN(at) ? Date.now() : at);
      server.update(snapshot.server);
    },
    onStatus: (status) => {
      ctx.setFeedStatus(status);
    },
  });
  feed.start();

  // First figures straight away; the feed takes over with its first snapshot.
  ctx.api.get<StreamList>('/api/v1/streams', abort.signal).then(
    (list) => {
      if (!gotSnapshot) showStreams(list.items, Date.now());
    },
    (error: unknown) => {
      reportError(ctx, 'Loading the streams', error);
    },
  );
  ctx.api.get<ServerInfo>('/api/v1/server', abort.signal).then(
    (info) => {
      if (!gotSnapshot) server.update(info);
    },
    (error: unknown) => {
      reportError(ctx, 'Loading the server figures', error);
    },
  );

  const thumbnails = setInterval(() => {
    for (const card of cards.values()) card.refreshThumbnail();
  }, THUMBNAIL_REFRESH_MS);

  return () => {
    clearInterval(thumbnails);
    feed.stop();
    abort.abort();
    for (const card of cards.values()) card.dispose();
    cards.clear();
    ctx.setFeedStatus(null);
  };
}

/** The server card (#server). */
class ServerCard {
  readonly element: HTMLElement;
  readonly #version: HTMLElement;
  readonly #uptime: HTMLElement;
  readonly #cpu: HTMLElement;
  readonly #memory: HTMLElement;
  readonly #lag: HTMLElement;
  readonly #listeners: HTMLElement;

  constructor() {
    const [version, versionValue] = figure('Version', 'server-version');
    const [uptime, uptimeValue] = figure('Uptime', 'server-uptime');
    const [cpu, cpuValue] = figure('CPU', 'server-cpu');
    const [memory, memoryValue] = figure('Memory (RSS / heap)', 'server-memory');
    const [lag, lagValue] = figure('Event-loop lag', 'server-lag');
    const [listeners, listenersValue] = figure('Ports', 'server-listeners');
    this.#version = versionValue;
    this.#uptime = uptimeValue;
    this.#cpu = cpuValue;
    this.#memory = memoryValue;
    this.#lag = lagValue;
    this.#listeners = listenersValue;
    this.element = h(
      'section',
      { id: 'server', class: 'card server-card', 'aria-labelledby': 'server-title' },
      h('h2', { id: 'server-title' }, 'Server'),
      h('dl', { class: 'figures' }, version, uptime, cpu, memory, lag, listeners),
    );
  }

  update(info: ServerInfo): void {
    setText(this.#version, info.version);
    setText(this.#uptime, formatDuration(info.uptimeS));
    setText(this.#cpu, formatNumber(info.cpuPercent, 1, '%'));
    setText(
      this.#memory,
      `${formatBytes(info.memory.rssBytes)} / ${formatBytes(info.memory.heapUsedBytes)}`,
    );
    setText(this.#lag, formatNumber(info.eventLoopLagMs, 1, 'ms'));
    const ports = [
      info.listeners.rtmp === null ? null : `RTMP ${info.listeners.rtmp}`,
      info.listeners.http === null ? null : `HTTP ${info.listeners.http}`,
    ].filter((port) => port !== null);
    setText(this.#listeners, ports.length === 0 ? 'none' : ports.join(' · '));
  }
}

/** One stream's card, updated in place so its thumbnail and focus survive refreshes. */
class StreamCard {
  readonly element: HTMLElement;
  readonly #ctx: ViewContext;
  readonly #signal: AbortSignal;
  readonly #thumbPath: string;
  readonly #image: HTMLImageElement;
  readonly #noImage: HTMLElement;
  readonly #badge: HTMLSpanElement;
  readonly #reasons: HTMLElement;
  readonly #values: Record<
    | 'viewers'
    | 'byProtocol'
    | 'ingest'
    | 'fps'
    | 'video'
    | 'codecs'
    | 'keyframe'
    | 'uptime'
    | 'dropped'
    | 'publisher',
    HTMLElement
  >;
  #objectUrl: string | null = null;
  #loadingThumbnail = false;
  #disposed = false;

  constructor(stream: StreamInfo, ctx: ViewContext, signal: AbortSignal) {
    this.#ctx = ctx;
    this.#signal = signal;
    this.#thumbPath = streamApiPath(stream.app, stream.name, '/thumbnail.jpg');
    this.#image = h('img', {
      alt: `Picture of ${stream.path}`,
      width: 320,
      height: 180,
      hidden: true,
      'data-testid': 'thumbnail',
    });
    this.#noImage = h('span', { class: 'no-picture' }, 'No picture');
    this.#badge = healthBadge();
    this.#reasons = h('p', { class: 'reasons', 'data-testid': 'health-reasons' });

    const viewersTotal = h('span', { 'data-testid': 'viewers', class: 'big' }, '0');
    const byProtocol = h('span', { class: 'sub', 'data-testid': 'viewers-by-protocol' });
    const viewers = h(
      'div',
      { class: 'figure' },
      h('dt', {}, 'Viewers'),
      h('dd', {}, viewersTotal, ' ', byProtocol),
    );
    const [ingest, ingestValue] = figure('Ingest (5 s / 30 s)', 'ingest');
    const [fps, fpsValue] = figure('Frame rate', 'fps');
    const [video, videoValue] = figure('Resolution', 'resolution');
    const [codecs, codecsValue] = figure('Codecs', 'codecs');
    const [keyframe, keyframeValue] = figure('Keyframe interval', 'keyframe-interval');
    const [uptime, uptimeValue] = figure('Uptime', 'uptime');
    const [dropped, droppedValue] = figure('Dropped frames', 'dropped-frames');
    const [publisher, publisherValue] = figure('Publisher', 'publisher');
    codecs.classList.add('wide');
    publisher.classList.add('wide');
    this.#values = {
      viewers: viewersTotal,
      byProtocol,
      ingest: ingestValue,
      fps: fpsValue,
      video: videoValue,
      codecs: codecsValue,
      keyframe: keyframeValue,
      uptime: uptimeValue,
      dropped: droppedValue,
      publisher: publisherValue,
    };
    const titleId = `stream-title-${stream.path.replace(/[^0-9A-Za-z_-]/g, '-')}`;
    this.element = h(
      'article',
      { class: 'card stream-card', 'data-stream': stream.path, 'aria-labelledby': titleId },
      h(
        'a',
        {
          class: 'thumb',
          href: streamHash(stream.app, stream.name),
          tabindex: -1,
          'aria-hidden': 'true',
        },
        this.#image,
        this.#noImage,
      ),
      h(
        'div',
        { class: 'stream-body' },
        h(
          'header',
          { class: 'stream-head' },
          h(
            'h3',
            { id: titleId },
            h('a', { href: streamHash(stream.app, stream.name) }, stream.path),
          ),
          this.#badge,
        ),
        this.#reasons,
        h(
          'dl',
          { class: 'figures compact' },
          viewers,
          ingest,
          fps,
          video,
          keyframe,
          uptime,
          dropped,
          codecs,
          publisher,
        ),
      ),
    );
  }

  update(stream: StreamInfo, health: ReturnType<HealthTracker['observe']>, nowMs: number): void {
    setHealth(this.#badge, health);
    setText(this.#reasons, health.reasons.join(' · '));
    this.#reasons.hidden = health.level === 'ok';
    this.element.dataset['health'] = health.level;
    const v = this.#values;
    setText(v.viewers, String(stream.viewers.total));
    setText(
      v.byProtocol,
      stream.viewers.total > 0 ? `(${formatByProtocol(stream.viewers.byProtocol)})` : '',
    );
    setText(v.ingest, `${formatKbps(stream.ingest.kbps5s)} / ${formatKbps(stream.ingest.kbps30s)}`);
    setText(v.fps, formatNumber(stream.ingest.fps, 1, 'fps'));
    setText(v.video, formatResolution(stream.tracks));
    setText(v.codecs, formatCodecs(stream.tracks));
    setText(v.keyframe, formatNumber(stream.ingest.keyframeIntervalS, 1, 's'));
    setText(v.uptime, formatDuration(stream.uptimeS));
    setText(v.dropped, formatNumber(stream.droppedFrames));
    const publisher = stream.publisher;
    const since = publisher === null ? NaN : Date.parse(publisher.since);
    setText(
      v.publisher,
      publisher === null
        ? 'none'
        : `${publisher.protocol} from ${publisher.ip}${Number.isNaN(since) ? '' : `, ${formatDuration((nowMs - since) / 1000)}`}`,
    );
  }

  /** Fetches the thumbnail (with the token, hence as a blob); hides it on 404. */
  refreshThumbnail(): void {
    if (this.#loadingThumbnail || this.#disposed) return;
    this.#loadingThumbnail = true;
    this.#ctx.api.blob(this.#thumbPath, this.#signal).then(
      (blob) => {
        this.#loadingThumbnail = false;
        if (this.#disposed) return;
        this.#showThumbnail(blob);
      },
      (error: unknown) => {
        this.#loadingThumbnail = false;
        if (this.#disposed) return;
        // A missing picture is no reason to alarm anyone: log it for whoever looks.
        reportThumbnailError(error);
      },
    );
  }

  #showThumbnail(blob: Blob | null): void {
    const previous = this.#objectUrl;
    if (blob === null) {
      this.#objectUrl = null;
      this.#image.hidden = true;
      this.#image.removeAttribute('src');
      this.#noImage.hidden = false;
    } else {
      this.#objectUrl = URL.createObjectURL(blob);
      this.#image.src = this.#objectUrl;
      this.#image.hidden = false;
      this.#noImage.hidden = true;
    }
    if (previous !== null) URL.revokeObjectURL(previous);
  }

  dispose(): void {
    this.#disposed = true;
    this.element.remove();
    if (this.#objectUrl !== null) URL.revokeObjectURL(this.#objectUrl);
    this.#objectUrl = null;
  }
}

function reportThumbnailError(error: unknown): void {
  if (error instanceof DOMException && error.name === 'AbortError') return;
  console.warn('thumbnail:', error);
}
