// #/stream/{app}/{name}: one stream live: figures, QoE, 5-minute charts fed by the live feed,
// the embedded player, the private switch, the stream's sessions (with Kick), its recordings, and
// its ABR renditions (abr-panel.ts) and its restream destinations (pushes-panel.ts).
import { ApiError, streamApiPath } from '../api.ts';
import type { LiveQoe, SessionInfo, SessionList, Snapshot, StreamInfo } from '../api-types.ts';
import { PALETTE, TimeChart, chartCard } from '../charts.ts';
import { h, setText } from '../dom.ts';
import { LiveFeed } from '../feed.ts';
import {
  formatByProtocol,
  formatBytes,
  formatCodecs,
  formatDuration,
  formatKbps,
  formatMs,
  formatNumber,
  formatRatio,
  formatResolution,
  formatTime,
  secondsSince,
} from '../format.ts';
import { HealthTracker } from '../health.ts';
import { historyHash, watchUrl } from '../router.ts';
import { recordingsPanel } from './recordings-panel.ts';
import { pushesPanel } from './pushes-panel.ts';
import { abrPanel } from './abr-panel.ts';
import {
  figure,
  healthBadge,
  reportError,
  setHealth,
  type Dispose,
  type ViewContext,
} from '../view.ts';

/** The charts show this many seconds. */
const WINDOW_S = 300;
/** Sessions and recordings are listed again this often. */
const SESSIONS_REFRESH_MS = 5000;
/** Sessions per request (the API's largest page). */
const SESSIONS_PAGE = 1000;
/** At most this many pages are read (a million sessions is more than a dashboard shows). */
const SESSIONS_MAX_PAGES = 20;
/** After a private switch, snapshots older than the change may still say the old value. */
const PRIVATE_SETTLE_MS = 3000;

/** Shows the live page of `app/name` in `root`. */
export function mountStream(
  root: HTMLElement,
  ctx: ViewContext,
  app: string,
  name: string,
): Dispose {
  const path = `${app}/${name}`;
  const abort = new AbortController();
  let player: HTMLIFrameElement | null = null;
  let playQuery = '';
  const recordings = recordingsPanel({
    ctx,
    app,
    name,
    signal: abort.signal,
    playQuery: () => playQuery,
  });
  const pushes = pushesPanel({ ctx, app, name, signal: abort.signal });
  const abr = abrPanel({ ctx, app, name, signal: abort.signal });
  // A private stream plays only with a token: mint a short one for the embedded player.
  void ctx.api
    .get<{ private: boolean }>(streamApiPath(app, name, '/access'), abort.signal)
    .then(async (access) => {
      if (!access.private) return;
      const minted = await ctx.api.post<{ query: string }>(
        '/api/v1/tokens',
        { stream: path, expiresIn: '4h' },
        abort.signal,
      );
      playQuery = minted.query;
      if (player !== null) player.src = `${watchUrl(app, name)}?${minted.query}`;
      recordings.refresh();
    })
    .catch(() => undefined);
  const health = new HealthTracker();
  let gotSnapshot = false;
  let isPrivate: boolean | null = null;
  let privateSettledAtMs = 0;
  let privatePending = false;

  // --- Layout ------------------------------------------------------------------------------------

  const badge = healthBadge();
  badge.id = 'stream-health';
  const reasons = h('span', { class: 'reasons', 'data-testid': 'health-reasons' });
  const state = h('p', { class: 'stream-state', id: 'stream-state', 'aria-live': 'polite' });

  const [viewers, viewersValue] = figure('Viewers', 'viewers');
  const [byProtocol, byProtocolValue] = figure('By protocol', 'viewers-by-protocol');
  const [ingest, ingestValue] = figure('Ingest (5 s / 30 s)', 'ingest');
  const [fps, fpsValue] = figure('Frame rate', 'fps');
  const [resolution, resolutionValue] = figure('Resolution', 'resolution');
  const [keyframe, keyframeValue] = figure('Keyframe interval', 'keyframe-interval');
  const [uptime, uptimeValue] = figure('Uptime', 'uptime');
  const [dropped, droppedValue] = figure('Dropped frames', 'dropped-frames');
  const [received, receivedValue] = figure('Received', 'ingest-bytes');
  const [codecs, codecsValue] = figure('Codecs', 'codecs');
  const [publisher, publisherValue] = figure('Publisher', 'publisher');
  codecs.classList.add('wide');
  publisher.classList.add('wide');

  const privateState = h('span', { id: 'private-state', class: 'private-state' }, 'unknown');
  const privateToggle = h(
    'button',
    { id: 'private-toggle', type: 'button', 'aria-describedby': 'private-help' },
    'Make private',
  );

  const [startupP50, startupP50Value] = figure('Startup p50', 'qoe-startup-p50');
  const [startupP95, startupP95Value] = figure('Startup p95', 'qoe-startup-p95');
  const [latencyP50, latencyP50Value] = figure('Latency p50', 'qoe-latency-p50');
  const [rebuffer, rebufferValue] = figure('Rebuffer ratio', 'qoe-rebuffer');
  const qoeCard = h(
    'section',
    { id: 'qoe', class: 'card', 'aria-labelledby': 'qoe-title', hidden: true },
    h('h2', { id: 'qoe-title' }, 'Quality of experience (player beacons)'),
    h('dl', { class: 'figures' }, startupP50, startupP95, latencyP50, rebuffer),
  );

  const chartBoxes = {
    viewers: chartCard('chart-viewers', 'Viewers'),
    ingest: chartCard('chart-ingest', 'Ingest (kbps)'),
    fps: chartCard('chart-fps', 'Frame rate (fps)'),
    dropped: chartCard('chart-dropped', 'Dropped frames (per second)'),
  };

  const sessionsBody = h('tbody');
  const sessionsNote = h(
    'p',
    { class: 'empty-note', id: 'sessions-empty', hidden: true },
    'No sessions on this stream.',
  );
  const sessionsRefresh = h('button', { type: 'button', id: 'sessions-refresh' }, 'Refresh');

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, path),
      badge,
      reasons,
      h(
        'nav',
        { class: 'page-links', 'aria-label': 'Stream pages' },
        h('a', { href: historyHash(app, name), id: 'history-link' }, 'History'),
        h('a', { href: watchUrl(app, name), target: '_blank', rel: 'noopener' }, 'Watch page ↗'),
      ),
    ),
    state,
    h(
      'div',
      { class: 'two-columns' },
      h(
        'section',
        { class: 'card', id: 'stream-now', 'aria-labelledby': 'now-title' },
        h('h2', { id: 'now-title' }, 'Now'),
        h(
          'dl',
          { class: 'figures' },
          viewers,
          byProtocol,
          ingest,
          fps,
          resolution,
          keyframe,
          uptime,
          dropped,
          received,
          codecs,
          publisher,
        ),
        h('div', { class: 'actions' }, h('span', {}, 'Access: ', privateState), privateToggle),
        h(
          'p',
          { class: 'help', id: 'private-help' },
          'A private stream plays only with a signed playback token.',
        ),
      ),
      h(
        'section',
        { class: 'card player-card', 'aria-labelledby': 'player-title' },
        h('h2', { id: 'player-title' }, 'Player'),
        h(
          'div',
          { class: 'player' },
          (player = h('iframe', {
            src: watchUrl(app, name),
            title: `Player of ${path}`,
            allow: 'autoplay; fullscreen; picture-in-picture',
            id: 'player',
          })),
        ),
      ),
    ),
    qoeCard,
    h(
      'section',
      { class: 'charts', 'aria-label': 'Last 5 minutes' },
      chartBoxes.viewers.section,
      chartBoxes.ingest.section,
      chartBoxes.fps.section,
      chartBoxes.dropped.section,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'sessions-title' },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: 'sessions-title' }, 'Sessions'),
        sessionsRefresh,
      ),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { id: 'sessions', class: 'table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Role', 'Protocol', 'Address', 'Connected', 'Bytes', 'Dropped', 'Queue'].map(
                (label) => h('th', { scope: 'col' }, label),
              ),
              h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
            ),
          ),
          sessionsBody,
        ),
      ),
      sessionsNote,
    ),
    recordings.element,
    abr.element,
    pushes.element,
  );

  const charts = {
    viewers: new TimeChart(chartBoxes.viewers.container, {
      series: [
        { label: 'Viewers', color: PALETTE[0] ?? '#2f7ed8', format: (v) => formatNumber(v) },
      ],
    }),
    ingest: new TimeChart(chartBoxes.ingest.container, {
      series: [{ label: 'Ingest', color: PALETTE[1] ?? '#d7263d', format: formatKbps }],
    }),
    fps: new TimeChart(chartBoxes.fps.container, {
      series: [{ label: 'fps', color: PALETTE[2] ?? '#2ca25f', format: (v) => formatNumber(v, 1) }],
    }),
    dropped: new TimeChart(chartBoxes.dropped.container, {
      series: [
        { label: 'Dropped / s', color: PALETTE[3] ?? '#f28e2b', format: (v) => formatNumber(v) },
      ],
    }),
  };

  // --- Figures -----------------------------------------------------------------------------------

  function showStream(stream: StreamInfo | null, nowMs: number): void {
    if (stream === null) {
      setHealth(badge, { level: 'down', reasons: ['not live'] });
      setText(reasons, '');
      setText(state, 'This stream is not live. The charts continue when it is.');
      state.hidden = false;
      for (const value of [
        viewersValue,
        ingestValue,
        fpsValue,
        resolutionValue,
        keyframeValue,
        uptimeValue,
      ]) {
        setText(value, '–');
      }
      setText(viewersValue, '0');
      setText(byProtocolValue, 'none');
      setText(publisherValue, 'none');
      return;
    }
    // Trends are timed with this browser's clock: the first figures may come from a GET.
    const result = health.observe(stream, Date.now());
    setHealth(badge, result);
    setText(reasons, result.reasons.join(' · '));
    state.hidden = stream.live;
    setText(state, stream.live ? '' : 'The publisher left; the stream waits for it to come back.');
    setText(viewersValue, String(stream.viewers.total));
    setText(byProtocolValue, formatByProtocol(stream.viewers.byProtocol));
    setText(
      ingestValue,
      `${formatKbps(stream.ingest.kbps5s)} / ${formatKbps(stream.ingest.kbps30s)}`,
    );
    setText(fpsValue, formatNumber(stream.ingest.fps, 1, 'fps'));
    setText(resolutionValue, formatResolution(stream.tracks));
    setText(keyframeValue, formatNumber(stream.ingest.keyframeIntervalS, 1, 's'));
    setText(uptimeValue, formatDuration(stream.uptimeS));
    setText(droppedValue, formatNumber(stream.droppedFrames));
    setText(receivedValue, formatBytes(stream.ingest.bytes));
    setText(codecsValue, formatCodecs(stream.tracks));
    const from = stream.publisher;
    const since = from === null ? null : secondsSince(from.since, nowMs);
    setText(
      publisherValue,
      from === null
        ? 'none'
        : `${from.protocol} from ${from.ip}${since === null ? '' : `, ${formatDuration(since)}`}`,
    );
    if (!privatePending && nowMs >= privateSettledAtMs) showPrivate(stream.private);
  }

  function showQoe(qoe: LiveQoe | undefined): void {
    const known =
      qoe !== undefined &&
      [qoe.startupP50Ms, qoe.startupP95Ms, qoe.latencyP50S, qoe.rebufferRatio].some(
        (v) => v !== null,
      );
    qoeCard.hidden = !known;
    if (!known) return;
    setText(startupP50Value, formatMs(qoe.startupP50Ms));
    setText(startupP95Value, formatMs(qoe.startupP95Ms));
    setText(latencyP50Value, formatNumber(qoe.latencyP50S, 2, 's'));
    setText(rebufferValue, formatRatio(qoe.rebufferRatio));
  }

  function showPrivate(value: boolean | null): void {
    isPrivate = value;
    setText(privateState, value === null ? 'unknown' : value ? 'private' : 'public');
    setText(privateToggle, value === true ? 'Make public' : 'Make private');
    privateToggle.dataset['private'] = value === null ? 'unknown' : String(value);
  }

  privateToggle.addEventListener('click', () => {
    if (privatePending) return;
    const next = isPrivate !== true;
    privatePending = true;
    privateToggle.disabled = true;
    ctx.api.put(streamApiPath(app, name, '/private'), { private: next }, abort.signal).then(
      () => {
        privatePending = false;
        privateToggle.disabled = false;
        privateSettledAtMs = Date.now() + PRIVATE_SETTLE_MS;
        showPrivate(next);
        ctx.showError(null);
      },
      (error: unknown) => {
        privatePending = false;
        privateToggle.disabled = false;
        reportError(ctx, next ? 'Making the stream private' : 'Making the stream public', error);
      },
    );
  });

  // --- Charts ------------------------------------------------------------------------------------

  const xs: number[] = [];
  const viewerValues: (number | null)[] = [];
  const ingestValues: (number | null)[] = [];
  const fpsValues: (number | null)[] = [];
  const droppedValues: (number | null)[] = [];
  let lastDropped: number | null = null;

  function addPoint(snapshot: Snapshot, stream: StreamInfo | null): void {
    const t = Date.parse(snapshot.time) / 1000;
    if (Number.isNaN(t)) return;
    const last = xs[xs.length - 1];
    if (last !== undefined && t <= last) {
      if (last - t < WINDOW_S) return; // a repeat: keep the series ascending
      for (const list of [xs, viewerValues, ingestValues, fpsValues, droppedValues])
        list.length = 0;
    }
    xs.push(t);
    viewerValues.push(stream === null ? null : stream.viewers.total);
    ingestValues.push(stream === null ? null : stream.ingest.kbps5s);
    fpsValues.push(stream?.ingest.fps ?? null);
    const droppedNow = stream?.droppedFrames ?? null;
    droppedValues.push(
      droppedNow === null ? null : lastDropped === null ? 0 : Math.max(0, droppedNow - lastDropped),
    );
    lastDropped = droppedNow;
    let drop = 0;
    while (drop < xs.length && (xs[drop] ?? t) < t - WINDOW_S) drop += 1;
    if (drop > 0) {
      for (const list of [xs, viewerValues, ingestValues, fpsValues, droppedValues])
        list.splice(0, drop);
    }
    const range: [number, number] = [t - WINDOW_S, t];
    charts.viewers.update(xs, [viewerValues], range);
    charts.ingest.update(xs, [ingestValues], range);
    charts.fps.update(xs, [fpsValues], range);
    charts.dropped.update(xs, [droppedValues], range);
  }

  // --- Sessions ----------------------------------------------------------------------------------

  const rows = new Map<string, SessionRow>();
  let sessionsLoading = false;

  async function loadSessions(): Promise<SessionInfo[]> {
    const mine: SessionInfo[] = [];
    for (let page = 0; page < SESSIONS_MAX_PAGES; page += 1) {
      const list = await ctx.api.get<SessionList>(
        `/api/v1/sessions?stream=${encodeURIComponent(path)}&page=${page}&itemsPerPage=${SESSIONS_PAGE}`,
        abort.signal,
      );
      for (const session of list.items) if (session.stream === path) mine.push(session);
      if ((page + 1) * list.itemsPerPage >= list.total || list.items.length === 0) break;
    }
    return mine;
  }

  function refreshSessions(): void {
    if (sessionsLoading) return;
    sessionsLoading = true;
    sessionsRefresh.disabled = true;
    loadSessions().then(
      (sessions) => {
        sessionsLoading = false;
        sessionsRefresh.disabled = false;
        showSessions(sessions);
      },
      (error: unknown) => {
        sessionsLoading = false;
        sessionsRefresh.disabled = false;
        reportError(ctx, 'Listing the sessions', error);
      },
    );
  }

  function showSessions(sessions: SessionInfo[]): void {
    const nowMs = Date.now();
    sessions.sort((a, b) =>
      a.role === b.role ? a.since.localeCompare(b.since) : a.role === 'publisher' ? -1 : 1,
    );
    const seen = new Set<string>();
    sessions.forEach((session, index) => {
      seen.add(session.id);
      let row = rows.get(session.id);
      if (row === undefined) {
        row = new SessionRow(session, kick);
        rows.set(session.id, row);
      }
      row.update(session, nowMs);
      if (sessionsBody.children[index] !== row.element) {
        sessionsBody.insertBefore(row.element, sessionsBody.children[index] ?? null);
      }
    });
    for (const [id, row] of rows) {
      if (seen.has(id)) continue;
      row.element.remove();
      rows.delete(id);
    }
    sessionsNote.hidden = sessions.length > 0;
  }

  function kick(row: SessionRow): void {
    row.button.disabled = true;
    ctx.api.delete(`/api/v1/sessions/${encodeURIComponent(row.id)}`, abort.signal).then(
      () => {
        ctx.showError(null);
        row.element.remove();
        rows.delete(row.id);
        sessionsNote.hidden = rows.size > 0;
        refreshSessions();
      },
      (error: unknown) => {
        row.button.disabled = false;
        if (error instanceof ApiError && error.status === 404) {
          refreshSessions(); // it left already
          return;
        }
        reportError(ctx, `Kicking session ${row.id}`, error);
      },
    );
  }

  sessionsRefresh.addEventListener('click', refreshSessions);
  refreshSessions();
  recordings.refresh();
  pushes.refresh();
  abr.refresh();
  const sessionsTimer = setInterval(() => {
    refreshSessions();
    recordings.refresh();
    pushes.refresh();
    abr.refresh();
  }, SESSIONS_REFRESH_MS);

  // --- Data --------------------------------------------------------------------------------------

  ctx.api.get<StreamInfo>(streamApiPath(app, name), abort.signal).then(
    (stream) => {
      if (!gotSnapshot) showStream(stream, Date.now());
    },
    (error: unknown) => {
      if (error instanceof ApiError && error.status === 404) {
        if (!gotSnapshot) showStream(null, Date.now());
        return;
      }
      reportError(ctx, `Loading ${path}`, error);
    },
  );

  const feed = new LiveFeed(ctx.api, {
    onSnapshot: (snapshot) => {
      gotSnapshot = true;
      const stream = snapshot.streams.find((candidate) => candidate.path === path) ?? null;
      const at = Date.parse(snapshot.time);
      showStream(stream, Number.isNaN(at) ? Date.now() : at);
      showQoe(snapshot.qoe[path]);
      addPoint(snapshot, stream);
    },
    onStatus: (status) => {
      ctx.setFeedStatus(status);
    },
  });
  feed.start();

  return () => {
    feed.stop();
    abort.abort();
    clearInterval(sessionsTimer);
    recordings.dispose();
    for (const chart of Object.values(charts)) chart.destroy();
    ctx.setFeedStatus(null);
  };
}

/** One row of the sessions table. */
class SessionRow {
  readonly id: string;
  readonly element: HTMLTableRowElement;
  readonly button: HTMLButtonElement;
  readonly #cells: HTMLTableCellElement[];

  constructor(session: SessionInfo, onKick: (row: SessionRow) => void) {
    this.id = session.id;
    this.#cells = Array.from({ length: 7 }, () => h('td'));
    this.button = h(
      'button',
      {
        type: 'button',
        class: 'danger small',
        'data-testid': 'kick',
        'aria-label': `Kick ${session.role} ${session.ip} (${session.protocol})`,
      },
      'Kick',
    );
    this.button.addEventListener('click', () => {
      onKick(this);
    });
    this.element = h(
      'tr',
      { 'data-session-id': session.id },
      ...this.#cells,
      h('td', {}, this.button),
    );
  }

  update(session: SessionInfo, nowMs: number): void {
    const since = secondsSince(session.since, nowMs);
    const texts = [
      session.role,
      session.protocol + transportSummary(session.transport),
      session.ip,
      since === null ? '–' : formatDuration(since),
      formatBytes(session.bytes),
      formatNumber(session.droppedFrames),
      formatNumber(session.queueDepth),
    ];
    texts.forEach((text, index) => {
      const cell = this.#cells[index];
      if (cell !== undefined) setText(cell, text);
    });
    const connected = this.#cells[3];
    if (connected !== undefined) connected.title = formatTime(session.since);
    const protocol = this.#cells[1];
    if (protocol !== undefined && session.transport !== null) {
      protocol.title = Object.entries(session.transport)
        .map(([key, value]) => `${key}: ${String(value)}`)
        .join('\n');
    }
  }
}

/** ` · RTT 0.4 ms · lost 12 · resent 12 · dropped 0` for an SRT session's figures, else ''. */
function transportSummary(transport: Record<string, number> | null): string {
  if (transport === null) return '';
  const parts: string[] = [];
  const { rttMs, packetsReceivedLost, packetsRetransmitted, packetsReceivedDropped } = transport;
  if (rttMs !== undefined) parts.push(`RTT ${rttMs.toFixed(1)} ms`);
  if (packetsReceivedLost !== undefined) parts.push(`lost ${formatNumber(packetsReceivedLost)}`);
  if (packetsRetransmitted !== undefined)
    parts.push(`resent ${formatNumber(packetsRetransmitted)}`);
  if (packetsReceivedDropped !== undefined)
    parts.push(`dropped ${formatNumber(packetsReceivedDropped)}`);
  return parts.map((part) => ` · ${part}`).join('');
}
