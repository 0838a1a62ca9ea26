// The page at GET /: the live streams with their tracks and URLs, or how to publish one.
import type { Track } from '../../media/track.ts';
import { escapeHtml } from './html-escape.ts';
import { streamUrlsOf, type RequestOrigin, type StreamUrls } from './stream-urls.ts';

/** What the list shows of one live stream. */
export interface LiveStreamSummary {
  readonly path: string;
  readonly tracks: readonly Track[];
  /** Wall-clock ms when its publisher started. */
  readonly publishedAtMs: number;
}

/** Inputs of renderStreamListPage(). */
export interface StreamListPageOptions {
  readonly streams: readonly LiveStreamSummary[];
  readonly origin: RequestOrigin;
  readonly rtmpPort?: number;
  /** The SRT port when SRT is on. */
  readonly srtPort?: number;
  /** Now, in wall-clock ms, for the "live for" column. */
  readonly nowMs: number;
}

const CODEC_NAMES: Readonly<Record<Track['codec'], string>> = {
  h264: 'H.264',
  hevc: 'HEVC',
  av1: 'AV1',
  vp9: 'VP9',
  vp8: 'VP8',
  aac: 'AAC',
  mp3: 'MP3',
  opus: 'Opus',
};

/** The whole HTML document of the stream list; every client-chosen string is escaped. */
export function renderStreamListPage(options: StreamListPageOptions): string {
  const streams = [...options.streams].sort((a, b) => (a.path < b.path ? -1 : 1));
  const body =
    streams.length === 0
      ? renderEmptyState(options)
      : `<ul class="stream-list">\n${streams.map((s) => renderStream(s, options)).join('\n')}\n</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live streams · onair</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/watch.css">
</head>
<body>
<header class="bar"><a class="brand" href="/">onair</a><h1>Live streams</h1></header>
<main class="list">
${body}
</main>
</body>
</html>
`;
}

/** A `<dl>` of a stream's URLs (watch, LL-HLS, HTTP-FLV, RTMP), shared with the watch page. */
export function renderStreamUrls(urls: StreamUrls): string {
  const row = (label: string, url: string, href?: string): string =>
    `<dt>${label}</dt><dd>${
      href === undefined
        ? `<code>${escapeHtml(url)}</code>`
        : `<a href="${escapeHtml(href)}"><code>${escapeHtml(url)}</code></a>`
    }</dd>`;
  return [
    '<dl class="urls">',
    row('Watch', urls.watch, urls.watchPath),
    row('LL-HLS', urls.hls, urls.hlsPath),
    row('HTTP-FLV', urls.flv, urls.flvPath),
    row('RTMP', urls.rtmp),
    urls.srt === null ? '' : row('SRT', urls.srt),
    '</dl>',
  ].join('');
}

/** One line describing a track: `H.264 High 1280×720`, `AAC LC 44.1 kHz stereo`. */
export function describeTrack(track: Track): string {
  const parts = [CODEC_NAMES[track.codec]];
  if (track.profile !== undefined) parts.push(track.profile);
  if (track.kind === 'video') {
    if (track.width !== undefined && track.height !== undefined)
      parts.push(`${track.width}×${track.height}`);
  } else {
    if (track.sampleRate !== undefined) parts.push(`${track.sampleRate / 1000} kHz`);
    if (track.channels !== undefined) parts.push(channelsName(track.channels));
  }
  return parts.join(' ');
}

function renderStream(stream: LiveStreamSummary, options: StreamListPageOptions): string {
  const urls = streamUrlsOf(stream.path, options.origin, options.rtmpPort, options.srtPort);
  const tracks =
    stream.tracks.length === 0
      ? 'waiting for the first frames'
      : stream.tracks.map((t) => escapeHtml(describeTrack(t))).join(' · ');
  const liveFor = formatDuration(options.nowMs - stream.publishedAtMs);
  return `<li class="stream">
<div class="stream-head"><a class="watch-link" href="${escapeHtml(urls.watchPath)}">${escapeHtml(stream.path)}</a><span class="live-badge">live</span><span class="uptime">for ${liveFor}</span></div>
<p class="tracks">${tracks}</p>
${renderStreamUrls(urls)}
</li>`;
}

function renderEmptyState(options: StreamListPageOptions): string {
  const urls = streamUrlsOf('live/test', options.origin, options.rtmpPort, options.srtPort);
  const ffmpeg =
    'ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine \\\n' +
    `  -c:v libx264 -preset veryfast -tune zerolatency -g 60 -c:a aac -f flv ${urls.rtmp}`;
  return `<section class="empty">
<h2>No live stream right now</h2>
<p>Publish one, then reload this page.</p>
<h3>OBS</h3>
<p>Settings → Stream → Service <em>Custom...</em>, Server <code>${escapeHtml(urls.rtmpServer)}</code>, Stream Key <code>${escapeHtml(urls.rtmpKey)}</code> (any name: letters, digits, <code>_ - .</code>), then Start Streaming.</p>
<h3>ffmpeg</h3>
<pre><code>${escapeHtml(ffmpeg)}</code></pre>
${urls.srtPublish === null ? '' : `<h3>SRT</h3>\n<p>Hardware encoders, vMix, OBS and ffmpeg (MPEG-TS): <code>${escapeHtml(urls.srtPublish)}</code>.</p>\n`}<p>Then watch it at <a href="${escapeHtml(urls.watchPath)}"><code>${escapeHtml(urls.watch)}</code></a>.</p>
</section>`;
}

function channelsName(channels: number): string {
  if (channels === 1) return 'mono';
  if (channels === 2) return 'stereo';
  return `${channels} ch`;
}

/** `42s`, `3m 05s`, `2h 07m`. */
function formatDuration(ms: number): string {
  const totalS = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}
