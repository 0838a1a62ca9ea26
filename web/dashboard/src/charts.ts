// TimeChart: a uPlot time-series chart filling its container's width, resized with it; marks
// the container with data-points="<n>" after every update so tests can watch it move.
import uPlot from 'uplot';
import { h } from './dom.ts';

/** One line of a chart. */
export interface SeriesSpec {
  readonly label: string;
  readonly color: string;
  /** The y scale (default 'y'); a second scale gets an axis on the right. */
  readonly scale?: string;
  /** Formats a value for the legend. */
  readonly format?: (value: number) => string;
  /** Draw a line across null values (sparse figures such as QoE); default false. */
  readonly spanGaps?: boolean;
}

/** A y axis. */
export interface AxisSpec {
  readonly scale: string;
  readonly label: string;
  readonly side: 'left' | 'right';
  /** Formats tick values (default: plain numbers). */
  readonly format?: (value: number) => string;
}

/** What a chart shows. */
export interface ChartSpec {
  readonly series: readonly SeriesSpec[];
  /** Default: one left axis on scale 'y' without label. */
  readonly axes?: readonly AxisSpec[];
  readonly height?: number;
}

/** Colors of the lines, in order. */
export const PALETTE = [
  '#2f7ed8',
  '#d7263d',
  '#2ca25f',
  '#f28e2b',
  '#8e6bbf',
  '#17becf',
  '#b07aa1',
];

const DEFAULT_HEIGHT = 180;
const MIN_WIDTH = 240;

/** A time-series chart: x is Unix time in seconds, one y array per series. */
export class TimeChart {
  readonly #container: HTMLElement;
  readonly #plot: uPlot;
  readonly #height: number;
  readonly #resize: ResizeObserver;
  /** Shown x range [min, max] in seconds, or null to fit the data. */
  #xRange: [number, number] | null = null;

  /** Renders an empty chart into `container` (which must be in the document, to be measured). */
  constructor(container: HTMLElement, spec: ChartSpec) {
    this.#container = container;
    this.#height = spec.height ?? DEFAULT_HEIGHT;
    const style = getComputedStyle(container);
    const ink = style.getPropertyValue('--chart-ink').trim() || '#5b6573';
    const grid = style.getPropertyValue('--chart-grid').trim() || 'rgba(128,128,128,0.2)';
    const axes = spec.axes ?? [{ scale: 'y', label: '', side: 'left' }];
    const scales: uPlot.Scales = {
      x: {
        time: true,
        range: (_u, min, max) => this.#xRange ?? [min, max],
      },
    };
    for (const axis of axes) scales[axis.scale] = { range: nonNegativeRange };
    const options: uPlot.Options = {
      width: this.#width(),
      height: this.#height,
      scales,
      // Room on the right for the last time label when no axis sits there.
      padding: [8, axes.some((axis) => axis.side === 'right') ? 0 : 24, 0, 0],
      cursor: { drag: { x: false, y: false } },
      legend: { show: true },
      series: [
        {},
        ...spec.series.map((series): uPlot.Series => ({
          label: series.label,
          stroke: series.color,
          width: 2,
          scale: series.scale ?? 'y',
          spanGaps: series.spanGaps ?? false,
          // uPlot passes null where a series has no value (its types say number).
          value: (_u, value: number | null) =>
            value === null ? '–' : (series.format ?? defaultFormat)(value),
        })),
      ],
      axes: [
        { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        ...axes.map((axis): uPlot.Axis => ({
          scale: axis.scale,
          ...(axis.label === '' ? {} : { label: axis.label }),
          // uPlot.Axis.Side is an ambient const enum, unusable under isolatedModules: 3 left, 1 right.
          // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
          side: axis.side === 'left' ? 3 : 1,
          stroke: ink,
          grid: { show: axis.side === 'left', stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          size: 56,
          values: (_u, splits) => splits.map((v) => (axis.format ?? defaultFormat)(v)),
        })),
      ],
    };
    const empty: uPlot.AlignedData = [[], ...spec.series.map(() => [])];
    this.#plot = new uPlot(options, empty, container);
    container.dataset['points'] = '0';
    this.#resize = new ResizeObserver(() => {
      const width = this.#width();
      if (width !== this.#plot.width) this.#plot.setSize({ width, height: this.#height });
    });
    this.#resize.observe(container);
  }

  /**
   * Replaces the data: `xs` in Unix seconds (ascending), `ys[i]` the values of series i (null
   * for a gap). `xRange` fixes the shown span (a scrolling window, a picked range).
   */
  update(
    xs: readonly number[],
    ys: readonly (readonly (number | null)[])[],
    xRange?: [number, number],
  ): void {
    this.#xRange = xRange ?? null;
    const data: uPlot.AlignedData = [[...xs], ...ys.map((values) => [...values])];
    this.#plot.setData(data);
    this.#container.dataset['points'] = String(xs.length);
  }

  /** Removes the chart and stops watching the container's size. */
  destroy(): void {
    this.#resize.disconnect();
    this.#plot.destroy();
  }

  #width(): number {
    return Math.max(MIN_WIDTH, Math.floor(this.#container.clientWidth));
  }
}

/** Y scales start at 0 and leave some room above the highest value. */
function nonNegativeRange(_u: uPlot, _min: number, max: number): uPlot.Range.MinMax {
  const top = Number.isFinite(max) && max > 0 ? max * 1.15 : 1;
  return [0, top];
}

function defaultFormat(value: number): string {
  if (Math.abs(value) >= 10_000) return `${(value / 1000).toFixed(0)}k`;
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** A chart card: a heading and the container (with `id`) that a TimeChart renders into. */
export function chartCard(
  id: string,
  title: string,
): { section: HTMLElement; container: HTMLDivElement } {
  const titleId = `${id}-title`;
  const container = h('div', {
    id,
    class: 'chart',
    'data-points': '0',
    role: 'img',
    'aria-labelledby': titleId,
  });
  const section = h(
    'section',
    { class: 'card chart-card' },
    h('h2', { id: titleId }, title),
    container,
  );
  return { section, container };
}
