// #/history/{app}/{name}: a stream over a range: viewers, ingest and QoE charts from the history
// API, and the stream's row of the analytics summary.
import { streamApiPath } from '../api.ts';
import type { AnalyticsSummary, HistoryPoint, StreamHistory, SummaryRow } from '../api-types.ts';
import { PALETTE, TimeChart, chartCard, type SeriesSpec } from '../charts.ts';
import { h, replaceChildren, setText } from '../dom.ts';
import { formatDuration, formatKbps, formatMs, formatNumber, formatRatio } from '../format.ts';
import {
  PRESETS,
  choiceFromQuery,
  fromLocalInput,
  queryOfChoice,
  resolveChoice,
  toLocalInput,
  type PresetName,
  type RangeChoice,
} from '../range.ts';
import { historyHash, streamHash } from '../router.ts';
import { figure, reportError, type Dispose, type ViewContext } from '../view.ts';

/** A gap longer than this many steps between two points is drawn as a gap, not a line. */
const GAP_STEPS = 2.5;

/** Shows the history page of `app/name` in `root`, for the range in `query`. */
export function mountHistory(
  root: HTMLElement,
  ctx: ViewContext,
  app: string,
  name: string,
  query: URLSearchParams,
): Dispose {
  const path = `${app}/${name}`;
  let loading: AbortController | null = null;
  let charts: TimeChart[] = [];
  let choice = choiceFromQuery(query);

  // --- Layout ------------------------------------------------------------------------------------

  const presetButtons = new Map<PresetName, HTMLButtonElement>();
  for (const [preset, { label }] of Object.entries(PRESETS) as [PresetName, { label: string }][]) {
    const button = h(
      'button',
      { type: 'button', id: `range-${preset}`, 'aria-pressed': 'false' },
      label,
    );
    button.addEventListener('click', () => {
      pick({ kind: 'preset', preset });
    });
    presetButtons.set(preset, button);
  }
  const fromInput = h('input', { type: 'datetime-local', id: 'range-from', required: true });
  const toInput = h('input', { type: 'datetime-local', id: 'range-to', required: true });
  const status = h('p', { id: 'range-status', class: 'help', 'aria-live': 'polite' });
  const form = h(
    'form',
    { id: 'range-form', class: 'card range-form', 'aria-label': 'Time range' },
    h(
      'div',
      { class: 'presets', role: 'group', 'aria-label': 'Quick ranges' },
      ...presetButtons.values(),
    ),
    h('div', { class: 'field' }, h('label', { for: 'range-from' }, 'From'), fromInput),
    h('div', { class: 'field' }, h('label', { for: 'range-to' }, 'To'), toInput),
    h('button', { type: 'submit', class: 'primary' }, 'Show'),
    status,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fromMs = fromLocalInput(fromInput.value);
    const toMs = fromLocalInput(toInput.value);
    if (fromMs === null || toMs === null) {
      ctx.showError('Enter both times of the range.');
      return;
    }
    if (fromMs >= toMs) {
      ctx.showError('The range must start before it ends.');
      return;
    }
    pick({ kind: 'custom', fromMs, toMs });
  });

  const summary = h('section', {
    id: 'summary',
    class: 'card',
    'aria-labelledby': 'summary-title',
  });
  const chartsSection = h('section', {
    class: 'charts',
    id: 'history-charts',
    'aria-label': 'History charts',
  });

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, `History of ${path}`),
      h(
        'nav',
        { class: 'page-links', 'aria-label': 'Stream pages' },
        h('a', { href: streamHash(app, name), id: 'live-link' }, 'Live view'),
      ),
    ),
    form,
    summary,
    chartsSection,
  );

  // --- Loading -----------------------------------------------------------------------------------

  function pick(next: RangeChoice): void {
    choice = next;
    // Keep the range in the address (without a hashchange, which would rebuild the page).
    history.replaceState(null, '', historyHash(app, name, queryOfChoice(choice)));
    load();
  }

  function load(): void {
    loading?.abort();
    const abort = new AbortController();
    loading = abort;
    ctx.showError(null);
    const { fromMs, toMs } = resolveChoice(choice, Date.now());
    for (const [preset, button] of presetButtons) {
      button.setAttribute(
        'aria-pressed',
        String(choice.kind === 'preset' && choice.preset === preset),
      );
    }
    fromInput.value = toLocalInput(fromMs);
    toInput.value = toLocalInput(toMs);
    const range = `from=${encodeURIComponent(new Date(fromMs).toISOString())}&to=${encodeURIComponent(new Date(toMs).toISOString())}`;
    setText(status, 'Loading…');
    Promise.all([
      ctx.api.get<StreamHistory>(`${streamApiPath(app, name, '/history')}?${range}`, abort.signal),
      ctx.api.get<AnalyticsSummary>(`/api/v1/analytics/summary?${range}`, abort.signal),
    ]).then(
      ([points, totals]) => {
        if (loading !== abort) return;
        loading = null;
        showCharts(points, fromMs / 1000, toMs / 1000);
        showSummary(totals.streams.find((row) => row.stream === path) ?? null);
        setText(
          status,
          `${points.points.length} points, one per ${formatDuration(points.stepS)}, from ${new Date(fromMs).toLocaleString()} to ${new Date(toMs).toLocaleString()}.`,
        );
      },
      (error: unknown) => {
        if (loading !== abort) return;
        loading = null;
        setText(status, '');
        reportError(ctx, 'Loading the history', error);
      },
    );
  }

  function showCharts(data: StreamHistory, fromS: number, toS: number): void {
    for (const chart of charts) chart.destroy();
    charts = [];
    const points = withGaps(data.points, data.stepS);
    const xs = points.map((point) => (point === null ? NaN : Date.parse(point.time) / 1000));
    // A gap row sits between two points: give it the time just after the one before it.
    xs.forEach((x, index) => {
      if (Number.isNaN(x)) xs[index] = (xs[index - 1] ?? fromS) + 0.001;
    });
    const range: [number, number] = [fromS, toS];
    const protocols = [
      ...new Set(data.points.flatMap((point) => Object.keys(point.viewersByProtocol))),
    ].sort();

    const boxes = [
      chartCard('history-viewers', 'Viewers'),
      chartCard('history-ingest', 'Ingest'),
      chartCard('history-startup', 'Startup time and latency (p50)'),
      chartCard('history-rebuffer', 'Rebuffer ratio'),
    ] as const;
    replaceChildren(chartsSection, ...boxes.map((entry) => entry.section));

    const viewerSeries: SeriesSpec[] = [
      { label: 'All', color: PALETTE[0] ?? '#2f7ed8', format: (v) => formatNumber(v) },
      ...protocols.map((protocol, index): SeriesSpec => ({
        label: protocol,
        color: PALETTE[(index + 1) % PALETTE.length] ?? '#888',
        format: (v) => formatNumber(v),
      })),
    ];
    const viewers = new TimeChart(boxes[0].container, { series: viewerSeries });
    viewers.update(
      xs,
      [
        points.map((point) => point?.viewers ?? null),
        ...protocols.map((protocol) =>
          points.map((point) => (point === null ? null : (point.viewersByProtocol[protocol] ?? 0))),
        ),
      ],
      range,
    );

    const ingest = new TimeChart(boxes[1].container, {
      series: [
        { label: 'Ingest', color: PALETTE[1] ?? '#d7263d', format: formatKbps },
        {
          label: 'fps',
          color: PALETTE[2] ?? '#2ca25f',
          scale: 'fps',
          format: (v) => formatNumber(v, 1),
        },
      ],
      axes: [
        { scale: 'y', label: 'kbps', side: 'left' },
        { scale: 'fps', label: 'fps', side: 'right' },
      ],
    });
    ingest.update(
      xs,
      [points.map((point) => point?.ingestKbps ?? null), points.map((point) => point?.fps ?? null)],
      range,
    );

    const startup = new TimeChart(boxes[2].container, {
      series: [
        { label: 'Startup p50', color: PALETTE[3] ?? '#f28e2b', format: formatMs, spanGaps: true },
        {
          label: 'Latency p50',
          color: PALETTE[4] ?? '#8e6bbf',
          scale: 's',
          format: (v) => formatNumber(v, 2, 's'),
          spanGaps: true,
        },
      ],
      axes: [
        { scale: 'y', label: 'ms', side: 'left' },
        { scale: 's', label: 's', side: 'right' },
      ],
    });
    startup.update(
      xs,
      [
        points.map((point) => point?.qoe?.startupP50Ms ?? null),
        points.map((point) => point?.qoe?.latencyP50S ?? null),
      ],
      range,
    );

    const rebuffer = new TimeChart(boxes[3].container, {
      series: [
        {
          label: 'Rebuffer ratio',
          color: PALETTE[5] ?? '#17becf',
          format: (v) => formatRatio(v / 100),
          spanGaps: true,
        },
      ],
      axes: [{ scale: 'y', label: '%', side: 'left' }],
    });
    rebuffer.update(xs, [points.map((point) => percentOf(point?.qoe?.rebufferRatio))], range);
    charts = [viewers, ingest, startup, rebuffer];
  }

  function showSummary(row: SummaryRow | null): void {
    const title = h('h2', { id: 'summary-title' }, 'Summary of the range');
    if (row === null) {
      replaceChildren(
        summary,
        title,
        h('p', { class: 'empty-note' }, 'Nobody watched this stream in this range.'),
      );
      return;
    }
    const figures = h('dl', { class: 'figures' });
    const add = (label: string, text: string, testId: string): void => {
      const [wrapper, value] = figure(label, testId);
      value.textContent = text;
      figures.append(wrapper);
    };
    add('Peak viewers', formatNumber(row.peakViewers), 'summary-peak');
    add('Unique viewers', formatNumber(row.uniqueViewers), 'summary-unique');
    add('Views', formatNumber(row.views), 'summary-views');
    add('Watch time', formatDuration(row.watchTimeS), 'summary-watch-time');
    add('Average view', formatDuration(row.averageViewS), 'summary-average-view');
    if (row.qoe !== null) {
      add('Player beacons', formatNumber(row.qoe.beacons), 'summary-beacons');
      add(
        'Startup p50 / p95',
        `${formatMs(row.qoe.startupP50Ms)} / ${formatMs(row.qoe.startupP95Ms)}`,
        'summary-startup',
      );
      add(
        'Latency p50 / p95',
        `${formatNumber(row.qoe.latencyP50S, 2, 's')} / ${formatNumber(row.qoe.latencyP95S, 2, 's')}`,
        'summary-latency',
      );
      add('Rebuffer ratio', formatRatio(row.qoe.rebufferRatio), 'summary-rebuffer');
    }
    const protocols = Object.entries(row.byProtocol).sort(
      (a, b) => b[1].watchTimeS - a[1].watchTimeS,
    );
    const table =
      protocols.length === 0
        ? null
        : h(
            'table',
            { class: 'table', id: 'summary-protocols' },
            h('caption', {}, 'By protocol'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Protocol'),
                h('th', { scope: 'col' }, 'Views'),
                h('th', { scope: 'col' }, 'Watch time'),
              ),
            ),
            h(
              'tbody',
              {},
              ...protocols.map(([protocol, totals]) =>
                h(
                  'tr',
                  { 'data-protocol': protocol },
                  h('th', { scope: 'row' }, protocol),
                  h('td', {}, formatNumber(totals.views)),
                  h('td', {}, formatDuration(totals.watchTimeS)),
                ),
              ),
            ),
          );
    replaceChildren(summary, title, figures, table);
  }

  load();

  return () => {
    loading?.abort();
    loading = null;
    for (const chart of charts) chart.destroy();
    charts = [];
  };
}

/** A ratio as a percentage, null when unknown. */
function percentOf(ratio: number | null | undefined): number | null {
  return ratio === null || ratio === undefined ? null : ratio * 100;
}

/** The points with a null between two that are more than GAP_STEPS steps apart. */
function withGaps(points: readonly HistoryPoint[], stepS: number): (HistoryPoint | null)[] {
  const out: (HistoryPoint | null)[] = [];
  let previous: number | null = null;
  for (const point of points) {
    const t = Date.parse(point.time) / 1000;
    if (Number.isNaN(t)) continue;
    if (previous !== null && stepS > 0 && t - previous > stepS * GAP_STEPS) out.push(null);
    out.push(point);
    previous = t;
  }
  return out;
}
