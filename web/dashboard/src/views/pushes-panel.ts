// The stream page's "Restream" card: the stream's pushes (GET .../pushes, docs/restream.md) with
// their state, bitrate, reconnects and last error. Keys come masked from the server.
import { ApiError, streamApiPath } from '../api.ts';
import type { PushList } from '../api-types.ts';
import { h, replaceChildren, setText } from '../dom.ts';
import { formatBytes } from '../format.ts';
import { reportError, type ViewContext } from '../view.ts';

export interface PushesPanelOptions {
  readonly ctx: ViewContext;
  readonly app: string;
  readonly name: string;
  readonly signal: AbortSignal;
}

export interface PushesPanel {
  readonly element: HTMLElement;
  refresh(): void;
}

/** Builds the card; call refresh() to fill it. */
export function pushesPanel(options: PushesPanelOptions): PushesPanel {
  const { ctx, app, name, signal } = options;
  const body = h('tbody');
  const note = h('p', { class: 'empty-note', id: 'pushes-empty' }, 'No restream destinations.');
  const element = h(
    'section',
    { class: 'card', id: 'pushes', 'aria-labelledby': 'pushes-title' },
    h('h2', { id: 'pushes-title' }, 'Restream'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'pushes-table', class: 'table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Destination', 'State', 'kbps', 'Sent', 'Dropped', 'Reconnects', 'Last error'].map(
              (label) => h('th', { scope: 'col' }, label),
            ),
          ),
        ),
        body,
      ),
    ),
    note,
  );
  let loading = false;

  function refresh(): void {
    if (loading) return;
    loading = true;
    ctx.api.get<PushList>(streamApiPath(app, name, '/pushes'), signal).then(
      (list) => {
        loading = false;
        replaceChildren(
          body,
          ...list.items.map((push) =>
            h(
              'tr',
              { 'data-push-id': push.id },
              h('td', {}, push.url),
              h('td', {}, push.state),
              h('td', {}, String(push.kbps)),
              h('td', {}, formatBytes(push.bytesSent)),
              h('td', {}, String(push.droppedFrames)),
              h('td', {}, String(push.reconnects)),
              h('td', {}, push.lastError ?? ''),
            ),
          ),
        );
        setText(note, list.items.length === 0 ? 'No restream destinations.' : '');
        note.hidden = list.items.length > 0;
      },
      (error: unknown) => {
        loading = false;
        if (error instanceof ApiError && error.status === 404) {
          replaceChildren(body);
          setText(note, 'Not live: pushes start when the stream is published.');
          note.hidden = false;
          return;
        }
        reportError(ctx, 'Listing the pushes', error);
      },
    );
  }

  return { element, refresh };
}
