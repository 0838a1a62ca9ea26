// Stream path from an RTMP connect (tcUrl/app) and a publish/play name, as OBS and ffmpeg send them.
import { checkStreamPath } from '../../hub/stream-path.ts';

/** A resolved stream path and the query string that came with it (kept for auth). */
export interface ResolvedStreamName {
  readonly path: string;
  readonly query: string;
}

/** The app part of a connect: the tcUrl's path when it has one, else the `app` field. */
export function appFromConnect(tcUrl: string, app: string): string {
  const afterHost = tcUrl.replace(/^[a-z0-9+.-]+:\/\/[^/]*/i, '');
  const fromUrl = afterHost.split('?')[0] ?? '';
  const chosen = fromUrl.length > 1 ? fromUrl : (app.split('?')[0] ?? '');
  return chosen.replace(/^\/+|\/+$/g, '');
}

/**
 * Joins app and name into `app/name`. The query (`name?token=x`, or a query-only key `?key=v`)
 * is cut once and returned. An empty name with a multi-segment app (OBS with server
 * `rtmp://h/a/b` and no key) uses the app as the whole path. Returns a reason string when the
 * result fails the stream-path allow-list.
 */
export function resolveStreamName(app: string, name: string): ResolvedStreamName | string {
  const queryAt = name.indexOf('?');
  const bare = queryAt === -1 ? name : name.slice(0, queryAt);
  const query = queryAt === -1 ? '' : name.slice(queryAt + 1);
  let path: string;
  try {
    path = decodeURIComponent(bare === '' ? app : `${app}/${bare}`);
  } catch {
    return 'bad percent-encoding';
  }
  const refused = checkStreamPath(path);
  return refused === null ? { path, query } : refused;
}
