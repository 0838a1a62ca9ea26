// Reads an FLV source (a file, or an HTTP-FLV response) into tags with onair's own FlvDecoder.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { FlvDecoder, FlvTagType, type FlvTag } from '../../src/codecs/flv.ts';
import { waitFor } from './media-tools.ts';

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

/**
 * At least 30 video tags of a live HTTP-FLV stream whose video is enhanced RTMP `fourCc`: every
 * tag has an ExVideoTagHeader with that FourCC, the first is the sequence start and the second
 * a key frame of coded frames (each checked).
 */
export async function enhancedFlvVideoTags(url: string, fourCc: string): Promise<FlvTag[]> {
  const viewer = watchHttpFlv(url);
  try {
    const video = () => viewer.tags.filter((tag) => tag.type === FlvTagType.Video);
    await waitFor(() => video().length >= 30, 15_000, 'HTTP-FLV video tags');
    const tags = video();
    for (const tag of tags) {
      assert.equal(tag.body.toString('latin1', 1, 5), fourCc, 'the enhanced-RTMP FourCC');
      assert.equal((tag.body[0] ?? 0) & 0x80, 0x80, 'an ExVideoTagHeader');
    }
    assert.equal((tags[0]?.body[0] ?? 0) & 0x0f, 0, 'the first tag is the sequence start');
    assert.equal(tags[1]?.body[0] ?? 0, 0x80 | 0x10 | 1, 'then a key frame of coded frames');
    return tags;
  } finally {
    viewer.close();
  }
}
