// Caps on the strings RTMP commands carry: a command whose string is over its cap is refused, so
// what a client names costs at most this much in every parser, log line and session after it.
import type { Amf0Object } from '../../codecs/amf0.ts';

/**
 * Longest `connect` fields accepted, in characters. The URLs and the app leave room for a token
 * or an Adobe authentication in their query; flashVer is an encoder's name and version.
 */
export const CONNECT_FIELD_CAPS = {
  tcUrl: 4096,
  app: 4096,
  swfUrl: 4096,
  pageUrl: 4096,
  flashVer: 256,
} as const;

/** Longest `publish` / `play` name accepted, its query (a key or token) included. */
export const MAX_STREAM_NAME_LENGTH = 4096;

/** Longest command name written to the log (an unknown command is ignored, not refused). */
export const MAX_LOGGED_COMMAND_LENGTH = 64;

/** The first capped field of a connect object that is a string over its cap, or null. */
export function overLongConnectField(
  object: Amf0Object,
): { readonly field: string; readonly cap: number } | null {
  for (const [field, cap] of Object.entries(CONNECT_FIELD_CAPS)) {
    const value = object[field];
    if (typeof value === 'string' && value.length > cap) return { field, cap };
  }
  return null;
}
