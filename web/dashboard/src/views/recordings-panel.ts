// The stream page's "Recordings and clips" card: the recording switch (PUT .../recording), the
// stream's newest recordings with Watch and Download links, and a clip of a span of them
// (GET .../clip.mp4, fetched with the API token and saved through an object URL).
import { streamApiPath } from '../api.ts';
import type { RecordingInfo, RecordingList, RecordingState } from '../api-types.ts';
import { h, replaceChildren, setText } from '../dom.ts';
import { formatBytes, formatDuration, formatTime } from '../format.ts';
import { fromLocalInput, toLocalInput } from '../range.ts';
import { reportError, type ViewContext } from '../view.ts';

/** The card lists this many recordings, newest first. */
const SHOWN = 50;
/** The clip span offered before the user picks one: the last this many seconds recorded. */
const DEFAULT_CLIP_S = 30;

const ERRORS: Record<NonNullable<RecordingState['error']>, string> = {
  'disk-full': 'Recording stopped: the disk is full (recording.minFreeBytes).',
  'queue-overflow': 'Recording stopped: the disk was slower than the stream.',
  'write-failed': 'Recording stopped: a write to the disk failed (see the server log).',
};

/** What the stream page hands the card. */
export interface RecordingsPanelOptions {
  readonly ctx: ViewContext;
  readonly app: string;
  readonly name: string;
  readonly signal: AbortSignal;
  /** The play token query (`token=...`) of a private stream, '' for a public one. */
  readonly playQuery: () => string;
}

/** The card, and the calls the stream page makes: refresh (on its timer) and dispose. */
export interface RecordingsPanel {
  readonly element: HTMLElement;
  refresh(): void;
  dispose(): void;
}

/** Builds the card; call refresh() to fill it. */
export function recordingsPanel(options: RecordingsPanelOptions): RecordingsPanel {
  const { ctx, app, name, signal } = options;
  const path = `${app}/${name}`;

  const stateText = h('span', { id: 'recording-state', class: 'private-state' }, 'unknown');
  const toggle = h('button', { id: 'recording-toggle', type: 'button' }, 'Start recording');
  const problem = h('p', { id: 'recording-error', class: 'alert', hidden: true });
  const body = h('tbody');
  const empty = h(
    'p',
    { class: 'empty-note', id: 'recordings-empty', hidden: true },
    'No recordings of this stream.',
  );
  const fromInput = h('input', { type: 'datetime-local', id: 'clip-from', step: 1 });
  const toInput = h('input', { type: 'datetime-local', id: 'clip-to', step: 1 });
  const makeClip = h('button', { type: 'submit', id: 'clip-make', class: 'primary' }, 'Make clip');
  const clipResult = h('p', { id: 'clip-result', class: 'help', 'aria-live': 'polite' });

  const form = h(
    'form',
    { class: 'range-form', id: 'clip-form', 'aria-label': 'Make a clip' },
    h('div', { class: 'field' }, h('label', { for: 'clip-from' }, 'Clip from'), fromInput),
    h('div', { class: 'field' }, h('label', { for: 'clip-to' }, 'to'), toInput),
    makeClip,
    h(
      'p',
      { class: 'help' },
      'A clip is cut from the recordings without re-encoding; it starts on the keyframe at or before "from".',
    ),
  );

  const element = h(
    'section',
    { class: 'card', id: 'recordings', 'aria-labelledby': 'recordings-title' },
    h('h2', { id: 'recordings-title' }, 'Recordings and clips'),
    h('div', { class: 'actions' }, h('span', {}, 'Recording: ', stateText), toggle),
    problem,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'recordings-table', class: 'table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Start', 'Duration', 'Size', 'Codecs', 'State'].map((label) =>
              h('th', { scope: 'col' }, label),
            ),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Links')),
          ),
        ),
        body,
      ),
    ),
    empty,
    form,
    clipResult,
  );

  let enabled: boolean | null = null;
  let togglePending = false;
  let loading = false;
  /** The user typed a span: refreshes no longer move it. */
  let spanEdited = false;
  let clipUrl: string | null = null;

  function showState(state: RecordingState): void {
    enabled = state.enabled;
    setText(stateText, state.recording ? 'recording' : state.enabled ? 'on, waiting' : 'off');
    stateText.dataset['enabled'] = String(state.enabled);
    setText(toggle, state.enabled ? 'Stop recording' : 'Start recording');
    problem.hidden = state.error === undefined;
    setText(problem, state.error === undefined ? '' : ERRORS[state.error]);
  }

  function showList(items: RecordingInfo[]): void {
    const query = options.playQuery();
    const suffix = query === '' ? '' : `?${query}`;
    replaceChildren(
      body,
      ...items.map((item) => {
        const watch = h(
          'a',
          { href: `${item.urls.watch}${suffix}`, target: '_blank', rel: 'noopener' },
          'Watch',
        );
        const download = h(
          'a',
          { href: `/vod/${item.id}.mp4${suffix}`, download: item.file.replaceAll('/', '_') },
          'Download',
        );
        return h(
          'tr',
          { 'data-recording-id': item.id },
          h('td', { title: item.start }, formatTime(item.start)),
          h('td', {}, formatDuration(item.durationS)),
          h('td', {}, formatBytes(item.bytes)),
          h('td', {}, item.codecs.join(', ')),
          h('td', {}, item.recording ? 'recording' : 'complete'),
          h('td', { class: 'links' }, watch, ' ', download),
        );
      }),
    );
    empty.hidden = items.length > 0;
    const newest = items[0];
    if (newest !== undefined && !spanEdited) {
      const toMs = Date.parse(newest.end);
      const oldest = Date.parse(items[items.length - 1]?.start ?? newest.start);
      fromInput.value = toLocalInput(Math.max(oldest, toMs - DEFAULT_CLIP_S * 1000), true);
      toInput.value = toLocalInput(toMs, true);
    }
  }

  /** The newest SHOWN recordings of the stream, newest first (the API lists oldest first). */
  async function newest(): Promise<RecordingInfo[]> {
    const list = (page: number): Promise<RecordingList> =>
      ctx.api.get<RecordingList>(
        `/api/v1/recordings?stream=${encodeURIComponent(path)}&itemsPerPage=${SHOWN}&page=${page}`,
        signal,
      );
    const first = await list(0);
    const last = Math.max(0, Math.ceil(first.total / SHOWN) - 1);
    if (last === 0) return first.items.reverse();
    const pages = await Promise.all([list(last - 1), list(last)]);
    return pages
      .flatMap((page) => page.items)
      .slice(-SHOWN)
      .reverse();
  }

  function refresh(): void {
    if (loading) return;
    loading = true;
    Promise.all([
      ctx.api.get<RecordingState>(streamApiPath(app, name, '/recording'), signal),
      newest(),
    ]).then(
      ([state, items]) => {
        loading = false;
        if (!togglePending) showState(state);
        showList(items);
      },
      (error: unknown) => {
        loading = false;
        reportError(ctx, 'Listing the recordings', error);
      },
    );
  }

  toggle.addEventListener('click', () => {
    if (togglePending || enabled === null) return;
    const next = !enabled;
    togglePending = true;
    toggle.disabled = true;
    ctx.api
      .put(streamApiPath(app, name, '/recording'), { enabled: next }, signal)
      .then(() => {
        ctx.showError(null);
      })
      .catch((error: unknown) => {
        reportError(ctx, next ? 'Starting the recording' : 'Stopping the recording', error);
      })
      .finally(() => {
        togglePending = false;
        toggle.disabled = false;
        refresh();
      });
  });

  for (const input of [fromInput, toInput]) {
    input.addEventListener('input', () => {
      spanEdited = true;
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fromMs = fromLocalInput(fromInput.value);
    const toMs = fromLocalInput(toInput.value);
    if (fromMs === null || toMs === null || toMs <= fromMs) {
      setText(clipResult, 'Pick a start and an end after it.');
      return;
    }
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    makeClip.disabled = true;
    setText(clipResult, 'Cutting the clip…');
    ctx.api
      .blob(
        `${streamApiPath(app, name, '/clip.mp4')}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
        signal,
      )
      .then((blob) => {
        if (blob === null) {
          setText(clipResult, 'No recording covers that span.');
          return;
        }
        if (clipUrl !== null) URL.revokeObjectURL(clipUrl);
        clipUrl = URL.createObjectURL(blob);
        const fileName = `${app}_${name}_${from.replace(/[-:]/g, '').replace(/\.\d+/, '')}.mp4`;
        const save = h('a', { href: clipUrl, download: fileName, id: 'clip-save' }, fileName);
        replaceChildren(clipResult, 'Clip ready: ', save, ` (${formatBytes(blob.size)})`);
        save.click();
      })
      .catch((error: unknown) => {
        setText(clipResult, '');
        reportError(ctx, 'Making the clip', error);
      })
      .finally(() => {
        makeClip.disabled = false;
      });
  });

  return {
    element,
    refresh,
    dispose: () => {
      if (clipUrl !== null) URL.revokeObjectURL(clipUrl);
    },
  };
}
