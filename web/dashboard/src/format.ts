// Number formatting for people: durations, bitrates, bytes, percentages. '–' stands for unknown.
import type { StreamTrack } from './api-types.ts';

/** Shown where a figure is unknown. */
export const UNKNOWN = '–';

const isKnown = (value: number | null | undefined): value is number =>
  value !== null && value !== undefined && Number.isFinite(value);

/** `3 h 04 min`, `4 min 05 s`, `12 s`; days for long spans. */
export function formatDuration(seconds: number | null | undefined): string {
  if (!isKnown(seconds)) return UNKNOWN;
  const total = Math.max(0, Math.round(seconds));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (days > 0) return `${days} d ${two(hours)} h`;
  if (hours > 0) return `${hours} h ${two(minutes)} min`;
  if (minutes > 0) return `${minutes} min ${two(secs)} s`;
  return `${secs} s`;
}

/** `850 kbps`, `2.35 Mbps`. */
export function formatKbps(kbps: number | null | undefined): string {
  if (!isKnown(kbps)) return UNKNOWN;
  if (kbps >= 1000) return `${(kbps / 1000).toFixed(2)} Mbps`;
  return `${Math.round(kbps)} kbps`;
}

/** `512 B`, `1.5 MB`, `2.10 GB` (powers of 1000). */
export function formatBytes(bytes: number | null | undefined): string {
  if (!isKnown(bytes)) return UNKNOWN;
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0
    ? `${Math.round(value)} B`
    : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit] ?? ''}`;
}

/** A plain number with at most `digits` decimals, or '–'. */
export function formatNumber(value: number | null | undefined, digits = 0, unit = ''): string {
  if (!isKnown(value)) return UNKNOWN;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits });
  return unit === '' ? text : `${text} ${unit}`;
}

/** A ratio (0..1) as a percentage: `1.25 %`. */
export function formatRatio(ratio: number | null | undefined): string {
  if (!isKnown(ratio)) return UNKNOWN;
  return `${(ratio * 100).toFixed(2)} %`;
}

/** Milliseconds as `850 ms` or `1.25 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (!isKnown(ms)) return UNKNOWN;
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** `1920×1080` from the video track, or '–'. */
export function formatResolution(tracks: readonly StreamTrack[]): string {
  const video = tracks.find((track) => track.kind === 'video');
  if (video?.width === undefined || video.height === undefined) return UNKNOWN;
  return `${video.width}×${video.height}`;
}

/** `H264 High 4.1 · AAC 48 kHz stereo`. */
export function formatCodecs(tracks: readonly StreamTrack[]): string {
  if (tracks.length === 0) return UNKNOWN;
  return tracks
    .map((track) => {
      const parts = [track.codec];
      if (track.profile !== undefined) parts.push(track.profile);
      if (track.level !== undefined) parts.push(track.level);
      if (track.sampleRate !== undefined) parts.push(`${track.sampleRate / 1000} kHz`);
      if (track.channels !== undefined) parts.push(channelsName(track.channels));
      return parts.join(' ');
    })
    .join(' · ');
}

function channelsName(channels: number): string {
  if (channels === 1) return 'mono';
  if (channels === 2) return 'stereo';
  return `${channels} ch`;
}

/** `hls 3 · flv 1`, protocols by count, or 'none'. */
export function formatByProtocol(byProtocol: Readonly<Record<string, number>>): string {
  const entries = Object.entries(byProtocol).filter(([, count]) => count > 0);
  if (entries.length === 0) return 'none';
  return entries
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([protocol, count]) => `${protocol} ${count}`)
    .join(' · ');
}

/** Seconds since `iso` (an ISO 8601 time) at `nowMs`, or null when it does not parse. */
export function secondsSince(iso: string, nowMs: number): number | null {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? null : Math.max(0, (nowMs - at) / 1000);
}

/** A local date and time for tooltips and tables. */
export function formatTime(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}
