// StaticAssets: the fixed allow-list of files the pages load (player scripts from node_modules,
// the watch page's own files from web/player/). No part of a URL ever reaches the file system.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A file ready to send. */
export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator (quoted), for If-None-Match. */
  readonly etag: string;
}

/** Content types of the files served. */
export const CONTENT_TYPES = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
} as const;

/** Where an allow-listed file lives and how it is sent. */
interface AssetSource {
  /** Resolves the absolute file path (called once, on first use). */
  readonly locate: () => string;
  readonly contentType: string;
}

const require = createRequire(import.meta.url);
const webFile = (name: string) => (): string =>
  fileURLToPath(new URL(`../../../web/player/${name}`, import.meta.url));

/** Every file that can be served, by name. */
const SOURCES: ReadonlyMap<string, AssetSource> = new Map([
  [
    'hls.min.js',
    { locate: () => require.resolve('hls.js/dist/hls.min.js'), contentType: CONTENT_TYPES.js },
  ],
  [
    'mpegts.js',
    { locate: () => require.resolve('mpegts.js/dist/mpegts.js'), contentType: CONTENT_TYPES.js },
  ],
  ['watch.js', { locate: webFile('watch.js'), contentType: CONTENT_TYPES.js }],
  ['latency-chase.js', { locate: webFile('latency-chase.js'), contentType: CONTENT_TYPES.js }],
  ['watch.css', { locate: webFile('watch.css'), contentType: CONTENT_TYPES.css }],
  ['watch.html', { locate: webFile('watch.html'), contentType: CONTENT_TYPES.html }],
]);

/** Names that `GET /assets/<name>` may ask for (watch.html is a template, not an asset). */
export const PUBLIC_ASSETS: ReadonlySet<string> = new Set([
  'hls.min.js',
  'mpegts.js',
  'watch.js',
  'latency-chase.js',
  'watch.css',
]);

/** Loads allow-listed files once and keeps them in memory (about 1 MB in all). */
export class StaticAssets {
  readonly #loaded = new Map<string, Promise<Asset>>();

  /**
   * The file called `name`, read on first use. Rejects for a name not on the allow-list or a
   * file that cannot be read; a failed read is retried on the next call.
   */
  get(name: string): Promise<Asset> {
    const cached = this.#loaded.get(name);
    if (cached) return cached;
    const source = SOURCES.get(name);
    if (!source) return Promise.reject(new Error(`Not an allow-listed asset: ${name}`));
    const loading = load(source);
    this.#loaded.set(name, loading);
    loading.catch(() => {
      if (this.#loaded.get(name) === loading) this.#loaded.delete(name);
    });
    return loading;
  }
}

async function load(source: AssetSource): Promise<Asset> {
  const body = await readFile(source.locate());
  const digest = createHash('sha256').update(body).digest('base64url').substring(0, 27);
  return { body, contentType: source.contentType, etag: `"${digest}"` };
}
