// A small LL-HLS client for tests, as hls.js plays at the live edge: one plain playlist load, the
// init segment, then for every part a blocking playlist reload for it (_HLS_msn/_HLS_part) and,
// at the same time, a request for the part the playlist's EXT-X-PRELOAD-HINT names (held by the
// server until it exists). It records every part it got, and whatever broke the chain: a part
// the new playlist does not list where the hint said, a part it skipped, a failed request.
// Bounded: it stops asking at `untilMs` and every request has a timeout.
import { Agent, request } from 'node:http';

/** A part's place in the stream: media sequence number and index within its segment. */
export interface PartPosition {
  readonly msn: number;
  readonly part: number;
}

/** A part as a playlist lists it. */
export interface ListedPart extends PartPosition {
  readonly uri: string;
}

/** What a media playlist says, as far as this client needs. */
export interface ParsedPlaylist {
  readonly mapUri: string | null;
  /** Every part listed, in order. */
  readonly parts: readonly ListedPart[];
  /** Complete segments' URIs, in order. */
  readonly segments: readonly string[];
  /** How many parts each complete segment listed with its parts has (msn -> parts). */
  readonly partCounts: ReadonlyMap<number, number>;
  /** The preload hint (the next part) and where it goes, or null. */
  readonly hint: ListedPart | null;
  readonly ended: boolean;
}

/** Reads EXT-X-MEDIA-SEQUENCE, EXT-X-MAP, EXT-X-PART, EXTINF + URI, EXT-X-PRELOAD-HINT. */
export function parsePlaylist(text: string): ParsedPlaylist {
  let msn = 0;
  let partIndex = 0;
  let mapUri: string | null = null;
  let hintUri: string | null = null;
  let ended = false;
  let afterExtinf = false;
  const parts: ListedPart[] = [];
  const segments: string[] = [];
  const partCounts = new Map<number, number>();
  const uriOf = (line: string): string | null => /URI="([^"]*)"/.exec(line)?.[1] ?? null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) msn = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-MAP:')) mapUri = uriOf(line);
    else if (line.startsWith('#EXT-X-PART:')) {
      const uri = uriOf(line);
      if (uri !== null) parts.push({ msn, part: partIndex++, uri });
    } else if (line.startsWith('#EXTINF:')) afterExtinf = true;
    else if (line.startsWith('#EXT-X-PRELOAD-HINT:') && line.includes('TYPE=PART')) {
      hintUri = uriOf(line);
    } else if (line === '#EXT-X-ENDLIST') ended = true;
    else if (afterExtinf && line !== '' && !line.startsWith('#')) {
      segments.push(line);
      if (partIndex > 0) partCounts.set(msn, partIndex);
      afterExtinf = false;
      msn++;
      partIndex = 0;
    }
  }
  return {
    mapUri,
    parts,
    segments,
    partCounts,
    hint: hintUri === null ? null : { msn, part: partIndex, uri: hintUri },
    ended,
  };
}

/** One HTTP answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** GET `path` on `port` (127.0.0.1) through `agent`; rejects after `timeoutMs`. */
export function get(
  agent: Agent,
  host: string,
  port: number,
  path: string,
  timeoutMs = 15_000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}

/** A part the client received. */
export interface ReceivedPart extends ListedPart {
  readonly bytes: number;
  /** When its body was complete (Date.now()). */
  readonly atMs: number;
}

/** What one client did. */
export interface LlHlsClientResult {
  /** Parts received, in order, from the first preload hint on. */
  readonly parts: readonly ReceivedPart[];
  readonly playlistRequests: number;
  readonly blockingRequests: number;
  /** Blocking reloads answered from the cache (X-Cache-Status: HIT). */
  readonly cachedPlaylists: number;
  /** Parts per complete segment, from every playlist it got (msn -> parts). */
  readonly partCounts: ReadonlyMap<number, number>;
  /** The last playlist answered from the cache, with when it arrived. */
  readonly lastCachedPlaylist: { readonly text: string; readonly atMs: number } | null;
  readonly errors: readonly string[];
}

/** Where a client plays from, and until when it asks. */
export interface LlHlsClientOptions {
  readonly host: string;
  readonly port: number;
  /** The playlist's path with its query if any (`/live/cam.m3u8`). */
  readonly playlistPath: string;
  /** No new part is asked for after this time (Date.now()). */
  readonly untilMs: number;
  /** Stops early after this many parts (a bound on the loop). */
  readonly maxParts?: number;
}

/** Resolves a playlist URI against the playlist's path (relative URIs, as onair writes them). */
export function resolveUri(playlistPath: string, uri: string): string {
  const url = new URL(uri, `http://host${playlistPath}`);
  return `${url.pathname}${url.search}`;
}

/** Plays until `untilMs`; never rejects (failures are in `errors`). */
export async function runLlHlsClient(options: LlHlsClientOptions): Promise<LlHlsClientResult> {
  const { host, port, playlistPath, untilMs } = options;
  const maxParts = options.maxParts ?? 10_000;
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const parts: ReceivedPart[] = [];
  const errors: string[] = [];
  let playlistRequests = 0;
  let blockingRequests = 0;
  let cachedPlaylists = 0;
  let lastCachedPlaylist: LlHlsClientResult['lastCachedPlaylist'] = null;
  const partCounts = new Map<number, number>();
  const fetchPart = async (listed: ListedPart): Promise<void> => {
    const answer = await get(agent, host, port, resolveUri(playlistPath, listed.uri));
    if (answer.status !== 200 || answer.body.length === 0) {
      throw new Error(`part ${listed.uri}: HTTP ${answer.status}, ${answer.body.length} bytes`);
    }
    parts.push({ ...listed, bytes: answer.body.length, atMs: Date.now() });
  };
  try {
    playlistRequests++;
    const first = await get(agent, host, port, playlistPath);
    if (first.status !== 200) throw new Error(`first playlist: HTTP ${first.status}`);
    let playlist = parsePlaylist(first.body.toString('utf8'));
    if (playlist.mapUri !== null) {
      const init = await get(agent, host, port, resolveUri(playlistPath, playlist.mapUri));
      if (init.status !== 200) throw new Error(`init ${playlist.mapUri}: HTTP ${init.status}`);
    }
    while (Date.now() < untilMs && parts.length < maxParts && !playlist.ended) {
      const hint = playlist.hint;
      if (hint === null) throw new Error('a playlist without EXT-X-PRELOAD-HINT');
      const query = `_HLS_msn=${hint.msn}&_HLS_part=${hint.part}`;
      const sep = playlistPath.includes('?') ? '&' : '?';
      playlistRequests++;
      blockingRequests++;
      const [reload] = await Promise.all([
        get(agent, host, port, `${playlistPath}${sep}${query}`),
        fetchPart(hint),
      ]);
      if (reload.status !== 200) throw new Error(`blocking reload ${query}: HTTP ${reload.status}`);
      const text = reload.body.toString('utf8');
      if (reload.headers['x-cache-status'] === 'HIT') {
        cachedPlaylists++;
        lastCachedPlaylist = { text, atMs: Date.now() };
      }
      playlist = parsePlaylist(text);
      for (const [msn, count] of playlist.partCounts) {
        const known = partCounts.get(msn);
        if (known !== undefined && known !== count) {
          throw new Error(`segment ${msn} listed with ${known} parts, then ${count}`);
        }
        partCounts.set(msn, count);
      }
      // The reload must list the hinted part where the hint said, under the same URI.
      const at = playlist.parts.findIndex((p) => p.msn === hint.msn && p.part === hint.part);
      if (at < 0 || playlist.parts[at]?.uri !== hint.uri) {
        throw new Error(`reload ${query} does not list ${hint.uri} at ${hint.msn}.${hint.part}`);
      }
      // Parts listed after it (a reload answered late): each one, in order, so none is skipped.
      for (const listed of playlist.parts.slice(at + 1)) await fetchPart(listed);
    }
  } catch (error) {
    errors.push(error instanceof Error ? error.message : String(error));
  } finally {
    agent.destroy();
  }
  return {
    parts,
    playlistRequests,
    blockingRequests,
    cachedPlaylists,
    partCounts,
    lastCachedPlaylist,
    errors,
  };
}

/** Orders parts by place in the stream. */
export function comparePositions(a: PartPosition, b: PartPosition): number {
  return a.msn - b.msn || a.part - b.part;
}
