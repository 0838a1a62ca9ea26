// The stream page's "Restream" card: the stream's pushes (GET .../pushes, docs/restream.md) with
// their state, bitrate, reconnects and last error; a form that adds a destination (POST .../pushes)
// and a Remove button per push, confirmed in place (DELETE .../pushes/ID). Keys come masked from
// the server, and the URL typed in is never shown back: the card shows only the API's answers.
import { ApiError, isAbort, streamApiPath } from '../api.ts';
import type { PushInfo, PushList } from '../api-types.ts';
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

const COLUMNS = [
  'Destination',
  'Origin',
  'State',
  'kbps',
  'Sent',
  'Dropped',
  'Reconnects',
  'Last error',
] as const;

/** Builds the card; call refresh() to fill it. */
export function pushesPanel(options: PushesPanelOptions): PushesPanel {
  const { ctx, app, name, signal } = options;
  const body = h('tbody');
  const note = h('p', { class: 'empty-note', id: 'pushes-empty' }, 'No restream destinations.');
  const problem = h('p', {
    id: 'pushes-error',
    class: 'form-error',
    role: 'alert',
    'aria-live': 'assertive',
  });
  const status = h('p', { id: 'push-status', class: 'help', 'aria-live': 'polite' });
  const input = h('input', {
    id: 'push-url',
    name: 'url',
    type: 'text',
    inputmode: 'url',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    size: 48,
    placeholder: 'rtmp://a.rtmp.youtube.com/live2/KEY',
    'aria-describedby': 'push-url-help pushes-error',
  });
  const submit = h('button', { type: 'submit', id: 'push-add', class: 'primary' }, 'Add');
  const form = h(
    'form',
    {
      class: 'range-form push-form',
      id: 'push-form',
      'aria-label': 'Add a restream destination',
      novalidate: true,
    },
    h('div', { class: 'field' }, h('label', { for: 'push-url' }, 'Destination URL'), input),
    submit,
    h(
      'p',
      { class: 'help', id: 'push-url-help' },
      'rtmp:// or rtmps:// server URL, then / and the stream key, as the platform shows them. ',
      'Pushed until the stream ends; the key is shown masked.',
    ),
  );
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
            ...COLUMNS.map((label) => h('th', { scope: 'col' }, label)),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
          ),
        ),
        body,
      ),
    ),
    note,
    form,
    problem,
    status,
  );

  const rows = new Map<string, PushRow>();
  let loading = false;
  /** A change (add, remove) happened while a list was on its way: list again after it. */
  let stale = false;
  let adding = false;

  /** Shows `error` in the card (the API's own message), or clears it with null. */
  function showProblem(doing: string | null, error?: unknown): void {
    if (doing === null) {
      setText(problem, '');
      return;
    }
    if (isAbort(error)) return;
    if (error instanceof ApiError && error.status === 401) return; // back at the login form
    const detail = error instanceof ApiError ? error.detail : String(error);
    setText(problem, `${doing}: ${detail}`);
  }

  function show(items: readonly PushInfo[]): void {
    const seen = new Set<string>();
    items.forEach((push, index) => {
      seen.add(push.id);
      let row = rows.get(push.id);
      if (row === undefined) {
        row = new PushRow(push, remove);
        rows.set(push.id, row);
      }
      row.update(push);
      if (body.children[index] !== row.element) {
        body.insertBefore(row.element, body.children[index] ?? null);
      }
    });
    for (const [id, row] of rows) {
      if (seen.has(id)) continue;
      row.element.remove();
      rows.delete(id);
    }
    setText(note, rows.size === 0 ? 'No restream destinations.' : '');
    note.hidden = rows.size > 0;
  }

  function refresh(): void {
    if (loading) {
      stale = true;
      return;
    }
    loading = true;
    stale = false;
    ctx.api
      .get<PushList>(streamApiPath(app, name, '/pushes'), signal)
      .then(
        (list) => {
          show(list.items);
        },
        (error: unknown) => {
          if (error instanceof ApiError && error.status === 404) {
            rows.clear();
            replaceChildren(body);
            setText(note, 'Not live: pushes start when the stream is published.');
            note.hidden = false;
            return;
          }
          reportError(ctx, 'Listing the pushes', error);
        },
      )
      .finally(() => {
        loading = false;
        if (stale && !signal.aborted) refresh();
      });
  }

  function remove(row: PushRow): void {
    row.setBusy(true);
    ctx.api.delete(streamApiPath(app, name, `/pushes/${encodeURIComponent(row.id)}`), signal).then(
      () => {
        showProblem(null);
        setText(status, `Removed ${row.url}.`);
        row.element.remove();
        rows.delete(row.id);
        note.hidden = rows.size > 0;
        if (rows.size === 0) setText(note, 'No restream destinations.');
        refresh();
      },
      (error: unknown) => {
        row.setBusy(false);
        if (error instanceof ApiError && error.status === 404) {
          refresh(); // gone already (the stream ended, or someone else removed it)
          return;
        }
        showProblem(`Removing ${row.url}`, error);
      },
    );
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (adding) return;
    const url = input.value.trim();
    if (url === '') {
      setText(problem, 'Enter the destination URL.');
      input.focus();
      return;
    }
    adding = true;
    submit.disabled = true;
    showProblem(null);
    setText(status, '');
    ctx.api
      .post<PushInfo>(streamApiPath(app, name, '/pushes'), { url }, signal)
      .then(
        (push) => {
          // Only the API's answer is shown: its URL has the key masked.
          input.value = '';
          setText(status, `Added ${push.url} (${push.id}).`);
          const others = [...rows.values()].filter((row) => row.id !== push.id);
          show([...others.map((row) => row.info), push]);
          refresh();
        },
        (error: unknown) => {
          showProblem('Not added', error);
          input.focus();
        },
      )
      .finally(() => {
        adding = false;
        submit.disabled = false;
      });
  });

  return { element, refresh };
}

/** One row of the pushes table, updated in place (a Remove being confirmed survives refreshes). */
class PushRow {
  readonly id: string;
  readonly element: HTMLTableRowElement;
  info: PushInfo;
  readonly #cells: HTMLTableCellElement[];
  readonly #remove: HTMLButtonElement;
  readonly #confirm: HTMLButtonElement;
  readonly #cancel: HTMLButtonElement;

  constructor(push: PushInfo, onRemove: (row: PushRow) => void) {
    this.id = push.id;
    this.info = push;
    this.#cells = COLUMNS.map(() => h('td'));
    this.#remove = h(
      'button',
      { type: 'button', class: 'danger small', 'data-testid': 'push-remove' },
      'Remove',
    );
    this.#confirm = h(
      'button',
      { type: 'button', class: 'danger small', 'data-testid': 'push-remove-confirm', hidden: true },
      'Stop pushing',
    );
    this.#cancel = h(
      'button',
      { type: 'button', class: 'small', 'data-testid': 'push-remove-cancel', hidden: true },
      'Cancel',
    );
    this.#remove.addEventListener('click', () => {
      this.#confirming(true);
      this.#confirm.focus();
    });
    this.#cancel.addEventListener('click', () => {
      this.#confirming(false);
      this.#remove.focus();
    });
    this.#confirm.addEventListener('click', () => {
      onRemove(this);
    });
    this.element = h(
      'tr',
      { 'data-push-id': push.id },
      ...this.#cells,
      h('td', { class: 'links' }, this.#remove, ' ', this.#confirm, ' ', this.#cancel),
    );
  }

  /** The masked URL, as the API answered it. */
  get url(): string {
    return this.info.url;
  }

  update(push: PushInfo): void {
    this.info = push;
    const texts = [
      push.url,
      push.origin,
      push.state,
      String(push.kbps),
      formatBytes(push.bytesSent),
      String(push.droppedFrames),
      String(push.reconnects),
      push.lastError ?? '',
    ];
    texts.forEach((text, index) => {
      const cell = this.#cells[index];
      if (cell !== undefined) setText(cell, text);
    });
    this.#remove.setAttribute('aria-label', `Remove ${push.url}`);
    this.#confirm.setAttribute('aria-label', `Stop pushing to ${push.url}`);
    this.#cancel.setAttribute('aria-label', `Keep pushing to ${push.url}`);
    this.#confirm.title =
      push.origin === 'config'
        ? 'A configured destination starts again at the next publish.'
        : 'The destination is forgotten; add it again to push to it.';
  }

  setBusy(busy: boolean): void {
    this.#confirm.disabled = busy;
    this.#cancel.disabled = busy;
  }

  #confirming(on: boolean): void {
    this.#remove.hidden = on;
    this.#confirm.hidden = !on;
    this.#cancel.hidden = !on;
  }
}
