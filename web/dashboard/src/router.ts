// Hash routes of the dashboard: #/ (live streams), #/stream/{app}/{name}, #/history/{app}/{name}.

/** A parsed location hash. */
export type Route =
  | { readonly kind: 'streams' }
  | { readonly kind: 'stream'; readonly app: string; readonly name: string }
  | {
      readonly kind: 'history';
      readonly app: string;
      readonly name: string;
      /** `range=1h|24h|7d` or `from` and `to` (ISO 8601). */
      readonly query: URLSearchParams;
    }
  | { readonly kind: 'logout' }
  | { readonly kind: 'not-found'; readonly hash: string };

/** The route of `hash` (location.hash, with or without its '#'). */
export function parseRoute(hash: string): Route {
  const raw = hash.startsWith('#') ? hash.substring(1) : hash;
  const queryAt = raw.indexOf('?');
  const path = queryAt === -1 ? raw : raw.substring(0, queryAt);
  const query = new URLSearchParams(queryAt === -1 ? '' : raw.substring(queryAt + 1));
  if (path === '' || path === '/') return { kind: 'streams' };
  if (path === '/logout') return { kind: 'logout' };
  const segments = path.split('/');
  // ['', 'stream' | 'history', app, name]
  if (segments.length === 4 && segments[0] === '') {
    const [, kind, rawApp = '', rawName = ''] = segments;
    const app = decodeSegment(rawApp);
    const name = decodeSegment(rawName);
    if (app !== null && name !== null) {
      if (kind === 'stream') return { kind: 'stream', app, name };
      if (kind === 'history') return { kind: 'history', app, name, query };
    }
  }
  return { kind: 'not-found', hash: raw };
}

function decodeSegment(segment: string): string | null {
  if (segment === '') return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** `#/stream/{app}/{name}`. */
export function streamHash(app: string, name: string): string {
  return `#/stream/${encodeURIComponent(app)}/${encodeURIComponent(name)}`;
}

/** `#/history/{app}/{name}`, with a query when given. */
export function historyHash(app: string, name: string, query?: URLSearchParams): string {
  const base = `#/history/${encodeURIComponent(app)}/${encodeURIComponent(name)}`;
  const text = query?.toString() ?? '';
  return text === '' ? base : `${base}?${text}`;
}

/** The watch page of a stream: `/watch/{app}/{name}`. */
export function watchUrl(app: string, name: string): string {
  return `/watch/${encodeURIComponent(app)}/${encodeURIComponent(name)}`;
}
