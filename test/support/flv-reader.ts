// Reads an FLV source (a file, or an HTTP-FLV response) into tags with onair's own FlvDecoder.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { FlvDecoder, type FlvTag } from '../../src/codecs/flv.ts';

/** Every tag of an FLV file. */
export function readFlvFile(path: string | URL): FlvTag[] {
  return new FlvDecoder().push(readFileSync(path));
}

/** A live HTTP-FLV viewer that collects tags. */
export interface FlvViewer {
  readonly tags: FlvTag[];
  /** True once the response has ended or failed. */
  readonly ended: () => boolean;
  readonly status: () => number;
  close(): void;
}

/** Opens `url` and decodes its body as FLV while it streams. */
export function watchHttpFlv(url: string): FlvViewer {
  const tags: FlvTag[] = [];
  const decoder = new FlvDecoder();
  let ended = false;
  let status = 0;
  const req = request(url, (res) => {
    status = res.statusCode ?? 0;
    res.on('data', (chunk: Buffer) => {
      if (status === 200) tags.push(...decoder.push(chunk));
    });
    res.on('end', () => (ended = true));
    res.on('error', () => (ended = true));
  });
  req.on('error', () => (ended = true));
  req.end();
  return { tags, ended: () => ended, status: () => status, close: () => req.destroy() };
}
