// Serving a file, whole or one byte range of it (RFC 9110 14): downloads of recordings, and the
// byte ranges HLS VOD playlists point players to. One range per request; a multi-range request
// gets 416 (players never send one, and multipart answers are not worth their attack surface).
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a Range header asks for, against a representation of `size` bytes. */
export type RangeRequest =
  | { readonly kind: 'whole' }
  | { readonly kind: 'range'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable'; readonly reason: string };

/** `bytes=first-last`, `bytes=first-` or `bytes=-suffix`; no regex backtracking on the header. */
const SINGLE_RANGE = /^bytes=(\d{0,15})-(\d{0,15})$/;

/** Parses a Range header (RFC 9110 14.1.2) for a file of `size` bytes. */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const value = header.trim();
  if (!value.startsWith('bytes=')) return { kind: 'whole' }; // another unit: ignored (14.2)
  if (value.includes(',')) return { kind: 'unsatisfiable', reason: 'one range per request' };
  const match = SINGLE_RANGE.exec(value);
  if (match === null) return { kind: 'unsatisfiable', reason: 'malformed range' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'unsatisfiable', reason: 'malformed range' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable', reason: 'empty range' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== '' && Number(last) < start)) {
    return { kind: 'unsatisfiable', reason: 'range outside the file' };
  }
  return { kind: 'range', start, end };
}

/** How a file is served. */
export interface FileResponse {
  readonly path: string;
  /** Bytes that may be served (a file being written: what is on disk so far). */
  readonly size: number;
  readonly contentType: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A read that makes no progress for this long is cut (a file on a hung disk). */
const READ_IDLE_MS = 30_000;

/** Answers a GET or HEAD with the file or the requested range of it. */
export function sendFile(req: IncomingMessage, res: ServerResponse, file: FileResponse): void {
  const range = parseRange(req.headers.range, file.size);
  const headers: Record<string, string | number> = {
    'Content-Type': file.contentType,
    'Accept-Ranges': 'bytes',
    ...file.headers,
  };
  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, {
      ...headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Range': `bytes */${file.size}`,
    });
    res.end(`${range.reason}\n`);
    return;
  }
  const start = range.kind === 'range' ? range.start : 0;
  const end = range.kind === 'range' ? range.end : file.size - 1;
  const length = Math.max(0, end - start + 1);
  headers['Content-Length'] = length;
  if (range.kind === 'range') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
  res.writeHead(range.kind === 'range' ? 206 : 200, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(file.path, { start, end });
  stream.on('error', () => {
    res.destroy();
  });
  res.on('close', () => {
    stream.destroy();
  });
  res.setTimeout(READ_IDLE_MS, () => {
    res.destroy();
  });
  stream.pipe(res);
}
