// Stream path from an RTMP connect (tcUrl/app) and a publish/play name, as OBS and ffmpeg send them.
import { checkStreamPath } from '../../hub/stream-path.ts';

const SLASH = 0x2f;

/** A resolved stream path and the query string that came with it (kept for auth). */
export interface ResolvedStreamName {
  readonly path: string;
  readonly query: string;
}

/**
 * The app part of a connect: the tcUrl's path when it has one, else the `app` field. Linear
 * in the input, whatever it holds (a trim regex here stalled the server on 60,000 slashes).
 */
export function appFromConnect(tcUrl: string, app: string): string {
  const afterHost = tcUrl.replace(/^[a-z0-9+.-]+:\/\/[^/]*/i, '');
  const fromUrl = beforeQuery(afterHost);
  return trimSlashes(fromUrl.length > 1 ? fromUrl : beforeQuery(app));
}

/** `text` up to its first `?`. */
function beforeQuery(text: string): string {
  const at = text.indexOf('?');
  return at === -1 ? text : text.slice(0, at);
}

/** `text` without its leading and trailing slashes (one pass from each end). */
function trimSlashes(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === SLASH) start++;
  while (end > start && text.charCodeAt(end - 1) === SLASH) end--;
  return text.slice(start, end);
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
