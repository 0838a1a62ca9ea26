// The URLs a stream can be reached at, shown on the list and watch pages (README "Watch").

/** Absolute URLs of one stream, for display; links on the pages use the relative `*Path`. */
export interface StreamUrls {
  readonly watchPath: string;
  readonly hlsPath: string;
  readonly flvPath: string;
  readonly watch: string;
  readonly hls: string;
  readonly flv: string;
  readonly rtmp: string;
  /** OBS "Server" field: `rtmp://host/app` (everything before the last segment). */
  readonly rtmpServer: string;
  /** OBS "Stream Key" field: the last segment. */
  readonly rtmpKey: string;
  /** SRT playback (`srt://host:port?streamid=read:PATH`), or null when SRT is off. */
  readonly srt: string | null;
  /** SRT publishing (`streamid=publish:PATH`), or null when SRT is off. */
  readonly srtPublish: string | null;
}

/** Where the page was asked from: the Host the client used, checked, and the scheme. */
export interface RequestOrigin {
  /** `host` or `host:port`, already checked by originOf(). */
  readonly host: string;
  readonly scheme: 'http' | 'https';
}

/** Default RTMP port: left out of rtmp:// URLs. */
const DEFAULT_RTMP_PORT = 1935;
/** A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The origin to show in URLs, from the request's Host and X-Forwarded-Proto headers. A Host
 * that is not a plain host[:port] (anything a client made up) becomes `localhost`.
 */
export function originOf(
  hostHeader: string | undefined,
  forwardedProto: string | string[] | undefined,
): RequestOrigin {
  const host = hostHeader !== undefined && HOST_PATTERN.test(hostHeader) ? hostHeader : 'localhost';
  return { host, scheme: forwardedProto === 'https' ? 'https' : 'http' };
}

/** The URLs of stream `path` (already allow-listed) as seen from `origin`; SRT's if `srtPort`. */
export function streamUrlsOf(
  path: string,
  origin: RequestOrigin,
  rtmpPort: number = DEFAULT_RTMP_PORT,
  srtPort: number | null = null,
): StreamUrls {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  const base = `${origin.scheme}://${origin.host}`;
  const rtmpHost = hostnameOf(origin.host) + (rtmpPort === DEFAULT_RTMP_PORT ? '' : `:${rtmpPort}`);
  const cut = encoded.lastIndexOf('/');
  const rtmpServer = `rtmp://${rtmpHost}/${encoded.substring(0, cut)}`;
  const srt = srtPort === null ? null : `srt://${hostnameOf(origin.host)}:${srtPort}?streamid=`;
  return {
    watchPath: `/watch/${encoded}`,
    hlsPath: `/${encoded}.m3u8`,
    flvPath: `/${encoded}.flv`,
    watch: `${base}/watch/${encoded}`,
    hls: `${base}/${encoded}.m3u8`,
    flv: `${base}/${encoded}.flv`,
    rtmp: `rtmp://${rtmpHost}/${encoded}`,
    rtmpServer,
    rtmpKey: encoded.substring(cut + 1),
    srt: srt === null ? null : `${srt}read:${encoded}`,
    srtPublish: srt === null ? null : `${srt}publish:${encoded}`,
  };
}

/** `host` without its port (`[::1]:8080` -> `[::1]`). */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.substring(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.substring(0, colon);
}
