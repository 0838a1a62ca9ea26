// Stream paths (`app/name`): the allow-list every protocol applies at its boundary.

/** Longest path segment accepted (file systems cap components at 255 bytes). */
export const MAX_SEGMENT_LENGTH = 128;
/** Longest whole path accepted. */
export const MAX_PATH_LENGTH = 255;
const SEGMENT = /^[0-9A-Za-z_.-]+$/;

/**
 * Checks a stream path such as `live/cam1` or `app/sub/name`: segments of letters, digits and
 * `_ - .`, none empty, `.` or `..`, each at most 128 characters, 255 in all. Returns the reason
 * it is refused, or null when it is fine. Callers percent-decode (once) before calling.
 */
export function checkStreamPath(path: string): string | null {
  if (path.length === 0) return 'empty';
  if (path.length > MAX_PATH_LENGTH) return `longer than ${MAX_PATH_LENGTH} characters`;
  const segments = path.split('/');
  if (segments.length < 2) return 'needs an app and a name (app/name)';
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') return 'empty, . or .. segment';
    if (segment.length > MAX_SEGMENT_LENGTH)
      return `a segment is longer than ${MAX_SEGMENT_LENGTH}`;
    if (!SEGMENT.test(segment)) return 'only letters, digits, _ - . are allowed';
  }
  return null;
}
