// The multivariant playlist of a stream with an ABR ladder, and the rendition reports of its
// variants: what each variant is (BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE) is measured from
// the segments and tracks its HLS window holds, not taken from the configuration.
import { encodeMultivariantPlaylist, type HlsVariant } from '../../codecs/m3u8.ts';
import { codecsString } from '../../media/fmp4-muxer.ts';
import type { HlsWindow } from './hls-window.ts';

/** How the viewer asked: `/app/NAME.m3u8` (flat) or `/app/NAME/index.m3u8` (index). */
export type PlaylistStyle = 'flat' | 'index';

/** The query that asks for the source's own media playlist when it has a ladder. */
export const SOURCE_VARIANT_QUERY = 'variant=source';

/**
 * The URI of the media playlist of `path` relative to a playlist of the same app asked for in
 * `style`; `source` marks the stream with the ladder, whose own URL is the multivariant one.
 * `query` (the viewer's token) is passed on.
 */
export function variantUri(
  path: string,
  style: PlaylistStyle,
  source: boolean,
  query = '',
): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const params = [source ? SOURCE_VARIANT_QUERY : '', query].filter((p) => p !== '').join('&');
  const q = params === '' ? '' : `?${params}`;
  return style === 'flat' ? `${name}.m3u8${q}` : `../${name}/index.m3u8${q}`;
}

/** One variant: its window and the URI the multivariant playlist gives it. */
export interface VariantEntry {
  readonly window: HlsWindow;
  readonly uri: string;
}

/** What one window's complete segments measure. */
export function measureVariant(window: HlsWindow, uri: string): HlsVariant | null {
  const segments = window.segments;
  if (segments.length === 0) return null;
  let peakBps = 0;
  let bytes = 0;
  let durationS = 0;
  let frames = 0;
  for (const segment of segments) {
    const size = segment.bytes?.length ?? 0;
    if (segment.durationS > 0) peakBps = Math.max(peakBps, (size * 8) / segment.durationS);
    bytes += size;
    durationS += segment.durationS;
    for (const part of segment.parts) frames += part.videoFrames;
  }
  const tracks = window.carriedTracks;
  const video = tracks.find((t) => t.kind === 'video');
  const codecs = tracks.map(codecsString).join(',');
  return {
    uri,
    bandwidth: Math.max(1, peakBps),
    ...(durationS > 0 ? { averageBandwidth: Math.max(1, (bytes * 8) / durationS) } : {}),
    codecs,
    ...(video?.kind === 'video' && video.width !== undefined && video.height !== undefined
      ? { resolution: { width: video.width, height: video.height } }
      : {}),
    ...(frames > 0 && durationS > 0 ? { frameRate: frames / durationS } : {}),
  };
}

/** The multivariant playlist: the variants that have a segment, in the order given. */
export function renderMultivariant(variants: readonly VariantEntry[]): string | null {
  const measured = variants
    .map((variant) => measureVariant(variant.window, variant.uri))
    .filter((variant): variant is HlsVariant => variant !== null);
  return measured.length === 0 ? null : encodeMultivariantPlaylist(measured);
}

/** EXT-X-RENDITION-REPORT of one variant: its newest segment and part. */
export function renditionReport(
  window: HlsWindow,
  uri: string,
): { uri: string; lastMsn: number; lastPart?: number } | null {
  const current = window.current;
  if (current !== null && current.parts.length > 0) {
    return { uri, lastMsn: current.msn, lastPart: current.parts.length - 1 };
  }
  const last = window.segments.at(-1);
  if (last === undefined) return null;
  return {
    uri,
    lastMsn: last.msn,
    ...(last.parts.length > 0 ? { lastPart: last.parts.length - 1 } : {}),
  };
}
