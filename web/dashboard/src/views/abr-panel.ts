// The stream page's "Renditions" card: the stream's ABR ladder (GET .../abr): ffmpeg's state,
// speed, CPU and restarts, each rendition stream (linked to its own page) and how the last run
// ended. Hidden while the stream has no ladder.
import { ApiError, isAbort, streamApiPath } from '../api.ts';
import type { AbrLadderInfo } from '../api-types.ts';
import { h, replaceChildren, setText } from '../dom.ts';
import { formatNumber, UNKNOWN } from '../format.ts';
import { streamHash } from '../router.ts';
import { reportError, type ViewContext } from '../view.ts';

export interface AbrPanel {
  readonly element: HTMLElement;
  refresh(): void;
}

/** Builds the card; call refresh() to fill it. */
export function abrPanel(options: {
  readonly ctx: ViewContext;
  readonly app: string;
  readonly name: string;
  readonly signal: AbortSignal;
}): AbrPanel {
  const { ctx, app, name, signal } = options;
  const figure = (id: string, label: string): [HTMLElement, HTMLElement] => {
    const value = h('dd', { id });
    return [h('div', { class: 'figure' }, h('dt', {}, label), value), value];
  };
  const [stateRow, state] = figure('abr-state', 'ffmpeg');
  const [speedRow, speed] = figure('abr-speed', 'Speed');
  const [cpuRow, cpu] = figure('abr-cpu', 'CPU');
  const [restartsRow, restarts] = figure('abr-restarts', 'Restarts');
  const list = h('ul', { id: 'abr-renditions', class: 'plain-list' });
  const lastExit = h('p', { id: 'abr-last-exit', class: 'help' });
  const element = h(
    'section',
    { class: 'card', id: 'abr', 'aria-labelledby': 'abr-title', hidden: true },
    h('h2', { id: 'abr-title' }, 'Renditions'),
    h('dl', { class: 'figures' }, stateRow, speedRow, cpuRow, restartsRow),
    list,
    lastExit,
  );
  let loading = false;

  function show(ladder: AbrLadderInfo): void {
    element.hidden = false;
    setText(state, ladder.pid === null ? ladder.state : `${ladder.state} (pid ${ladder.pid})`);
    setText(speed, ladder.speed === null ? UNKNOWN : `${ladder.speed.toFixed(2)}×`);
    setText(cpu, formatNumber(ladder.cpuPercent, 0, '% of a core'));
    setText(restarts, String(ladder.restarts));
    replaceChildren(
      list,
      ...ladder.renditions.map((path) => {
        const slash = path.indexOf('/');
        return h(
          'li',
          {},
          h('a', { href: streamHash(path.slice(0, slash), path.slice(slash + 1)) }, path),
        );
      }),
    );
    setText(lastExit, ladder.lastExit === null ? '' : `Last exit: ${ladder.lastExit}`);
  }

  function refresh(): void {
    if (loading) return;
    loading = true;
    ctx.api
      .get<AbrLadderInfo>(streamApiPath(app, name, '/abr'), signal)
      .then(show, (error: unknown) => {
        if (isAbort(error)) return;
        if (error instanceof ApiError && error.status === 404) {
          element.hidden = true; // no ladder for this stream now
          return;
        }
        reportError(ctx, 'Reading the ABR ladder', error);
      })
      .finally(() => {
        loading = false;
      });
  }

  return { element, refresh };
}
