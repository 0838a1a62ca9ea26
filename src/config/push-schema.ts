// `streams.<path>.push`: the RTMP/RTMPS destinations a stream is restreamed to (docs/restream.md).
import { z } from 'zod';

/** Most destinations one stream is pushed to (config and API together). */
export const MAX_PUSHES_PER_STREAM = 16;
/** Longest destination URL (a platform's stream key with a query fits well within). */
export const MAX_PUSH_URL_LENGTH = 2048;

/**
 * Why `url` cannot be a push destination, or null when it can: rtmp:// or rtmps://, a host, an
 * app and a stream name (`rtmp://host[:port]/app/name[?query]`), printable ASCII, bounded.
 */
export function pushUrlProblem(url: string): string | null {
  if (url.length > MAX_PUSH_URL_LENGTH)
    return `longer than ${String(MAX_PUSH_URL_LENGTH)} characters`;
  if (!/^[\x21-\x7e]+$/.test(url)) return 'must be printable ASCII without spaces';
  if (!URL.canParse(url)) return 'not a URL';
  const parsed = new URL(url);
  if (parsed.protocol !== 'rtmp:' && parsed.protocol !== 'rtmps:') {
    return 'must be an rtmp:// or rtmps:// URL';
  }
  if (parsed.hostname === '') return 'has no host';
  if (parsed.hash !== '') return 'must not have a #fragment';
  const segments = parsed.pathname.split('/').filter((segment) => segment !== '');
  if (segments.length < 2) return 'must name an app and a stream: rtmp://host/app/name';
  return null;
}

/** A list of push destinations. */
export function pushUrlList() {
  return z
    .array(
      z.string().superRefine((url, context) => {
        const problem = pushUrlProblem(url);
        if (problem !== null) context.addIssue({ code: 'custom', message: problem });
      }),
    )
    .max(MAX_PUSHES_PER_STREAM);
}
