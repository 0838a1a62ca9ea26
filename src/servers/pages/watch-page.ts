// The page at GET /watch/<app>/<name>: web/player/watch.html with the stream's path and URLs filled in.
import { escapeHtml } from './html-escape.ts';
import { renderStreamUrls } from './stream-list-page.ts';
import type { StreamUrls } from './stream-urls.ts';

/** Inputs of renderWatchPage(). */
export interface WatchPageOptions {
  /** The stream path, already allow-listed. */
  readonly path: string;
  readonly urls: StreamUrls;
  /** Seconds of the stream's DVR window (0: none), for the seek bar. */
  readonly dvrWindowS?: number;
}

/**
 * Fills the `{{name}}` placeholders of the watch page template in one pass (a value that
 * contains `{{...}}` is never expanded again). Unknown placeholders become empty.
 */
export function renderWatchPage(template: string, options: WatchPageOptions): string {
  const values: Readonly<Record<string, string>> = {
    streamPath: escapeHtml(options.path),
    hlsPath: escapeHtml(options.urls.hlsPath),
    flvPath: escapeHtml(options.urls.flvPath),
    urls: renderStreamUrls(options.urls),
    dvrWindowS: String(options.dvrWindowS ?? 0),
  };
  return template.replace(/\{\{(\w+)\}\}/g, (_match, key: string) => values[key] ?? '');
}
