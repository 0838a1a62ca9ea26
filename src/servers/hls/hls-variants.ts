// The multivariant playlist of a stream with an ABR ladder, and the rendition reports of its
// variants: what each variant is (BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE) is measured from
// the segments and tracks its HLS window holds, not taken from the configuration.
import {
  encodeMultivariantPlaylist,
  type HlsAudioRendition,
  type HlsVariant,
} from '../../codecs/m3u8.ts';
import { codecsString } from '../../media/fmp4-muxer.ts';
import type { HlsWindow } from './hls-window.ts';

/** How the viewer asked: `/app/NAME.m3u8` (flat) or `/app/NAME/index.m3u8` (index). */
export type PlaylistStyle = 'flat' | 'index';

/** The one kind of track a media playlist carries (`?variant=video`, `?variant=audio`). */
export type Carry = 'video' | 'audio';

/**
 * What `?variant=` asks of a stream's URL: `source` its own media playlist with every track
 * (its plain URL is the multivariant one while it has a ladder), `video` or `audio` one kind
 * of track cut where the stream is.
 */
export type VariantKind = 'source' | Carry;

/** The kind of track `?variant=` asks for, or null for every track. */
export function carryOf(search: URLSearchParams): Carry | null {
  const variant = search.get('variant');
  return variant === 'video' || variant === 'audio' ? variant : null;
}

/** What `?variant=` names an entry: its kind of track, or `source` for a ladder's own. */
export function variantOf(entry: {
  readonly carry: Carry | null;
  readonly follows: unknown;
}): VariantKind | null {
  return entry.carry ?? (entry.follows === null ? 'source' : null);
}

/**
 * The URI of the media playlist of `path` relative to a playlist of the same app asked for in
 * `style`, with `?variant=` when given. `query` (the viewer's token) is passed on.
 */
export function variantUri(
  path: string,
  style: PlaylistStyle,
  variant: VariantKind | null,
  query = '',
): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const params = [variant === null ? '' : `variant=${variant}`, query]
    .filter((p) => p !== '')
    .join('&');
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

/** The GROUP-ID of a ladder's audio rendition. */
export const AUDIO_GROUP = 'audio';

/**
 * The multivariant playlist: the variants that have a segment, in the order given. With
 * `audio` (video-only variants), each names its group, and counts its bits in BANDWIDTH and
 * its codec in CODECS (RFC 8216bis 4.4.6.2).
 */
export function renderMultivariant(
  variants: readonly VariantEntry[],
  audio: VariantEntry | null = null,
): string | null {
  const sound = audio === null ? null : measureVariant(audio.window, audio.uri);
  const measured = variants
    .map((variant) => measureVariant(variant.window, variant.uri))
    .filter((variant): variant is HlsVariant => variant !== null)
    .map((variant) =>
      sound === null
        ? variant
        : {
            ...variant,
            bandwidth: variant.bandwidth + sound.bandwidth,
            ...(variant.averageBandwidth !== undefined && sound.averageBandwidth !== undefined
              ? { averageBandwidth: variant.averageBandwidth + sound.averageBandwidth }
              : {}),
            codecs: [variant.codecs, sound.codecs].filter((c) => c !== '').join(','),
            audio: AUDIO_GROUP,
          },
    );
  if (measured.length === 0) return null;
  const track = audio?.window.carriedTracks.find((t) => t.kind === 'audio');
  const renditions: HlsAudioRendition[] =
    sound === null || audio === null
      ? []
      : [
          {
            groupId: AUDIO_GROUP,
            name: 'main',
            uri: audio.uri,
            ...(track?.kind === 'audio' && track.channels !== undefined
              ? { channels: track.channels }
              : {}),
          },
        ];
  return encodeMultivariantPlaylist(measured, renditions);
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
