// Clips: a standalone MP4 of a span of a stream's recordings, cut from the files without
// re-encoding. It starts on the last keyframe at or before the asked start (so it decodes from
// its first frame), runs across file boundaries while the codecs stay the same, and ends with
// the first fragment that reaches the asked end. Moofs are re-based (times from 0, new
// sequence numbers); mdat payloads are copied from the files as they are.
import { open, type FileHandle } from 'node:fs/promises';
import {
  encodeMfra,
  parseMoof,
  rebaseMoof,
  recordingInit,
  type RandomAccessEntry,
} from '../media/fmp4-file.ts';
import type { RecordingCatalogue } from './catalogue.ts';
import type { FragmentRef } from './file-index.ts';

/** The longest clip made, so one request cannot ask for a day of video. */
export const MAX_CLIP_MS = 6 * 3600 * 1000;

/** A clip ready to be sent: its size is known before the first byte goes. */
export interface ClipPlan {
  readonly size: number;
  readonly durationMs: number;
  /** The bytes, in order: read lazily from the recordings. */
  chunks(): AsyncGenerator<Buffer>;
}

interface Piece {
  readonly path: string;
  readonly fragment: FragmentRef;
  readonly moof: Buffer;
}

/** Makes the clip of `stream` from `fromMs` to `toMs` (wall clock), or says why not. */
export async function planClip(
  catalogue: RecordingCatalogue,
  stream: string,
  fromMs: number,
  toMs: number,
): Promise<ClipPlan | { readonly error: string }> {
  if (!(toMs > fromMs)) return { error: 'to must be after from' };
  if (toMs - fromMs > MAX_CLIP_MS)
    return { error: `a clip lasts at most ${MAX_CLIP_MS / 3_600_000} h` };
  const recordings = catalogue.list({ stream, fromMs, toMs });
  let init: Buffer | null = null;
  let clipStartWallMs = 0;
  const pieces: Piece[] = [];
  const timescales = new Map<number, number>();
  let durationMs = 0;
  for (const info of recordings) {
    const index = await catalogue.index(info);
    const path = catalogue.pathOf(info);
    const handle = await open(path, 'r');
    try {
      const fileInit = await readAt(handle, 0, index.initEnd);
      if (init !== null && !fileInit.equals(init)) break; // the codecs changed: the clip ends
      let chosen = index.fragments.filter((f) => info.startMs + f.timeMs < toMs);
      if (init === null) {
        // The first file: from the last keyframe at or before `from`.
        let first = 0;
        chosen.forEach((f, i) => {
          if (f.independent && info.startMs + f.timeMs <= fromMs) first = i;
        });
        while (first < chosen.length && !(chosen[first] as FragmentRef).independent) first++;
        chosen = chosen.slice(first);
        if (chosen.length === 0) continue;
        init = fileInit;
        clipStartWallMs = info.startMs + (chosen[0] as FragmentRef).timeMs;
        for (const track of index.tracks) timescales.set(track.trackId, track.timescale);
      }
      for (const fragment of chosen) {
        const moof = await readAt(handle, fragment.offset, fragment.moofSize);
        const parsed = parseMoof(moof);
        const bases = new Map<number, number>();
        for (const track of parsed.tracks) {
          const timescale = timescales.get(track.trackId) ?? 1000;
          // The file's times count from its start; the clip's from its first fragment.
          const shiftMs = info.startMs - clipStartWallMs;
          const base = track.baseDecodeTimeTicks + Math.round((shiftMs * timescale) / 1000);
          bases.set(track.trackId, Math.max(0, base));
        }
        pieces.push({
          path,
          fragment,
          moof: rebaseMoof(moof, pieces.length + 1, bases),
        });
        durationMs = info.startMs + fragment.timeMs + fragment.durationMs - clipStartWallMs;
      }
    } finally {
      await handle.close();
    }
  }
  if (init === null || pieces.length === 0) return { error: 'no recording covers that span' };
  const header = Buffer.from(init);
  for (const patch of recordingInit(header).patchDuration(Math.round(durationMs))) {
    patch.bytes.copy(header, patch.offset);
  }
  const firstTrack = timescales.keys().next().value ?? 1;
  const entries: RandomAccessEntry[] = [];
  let offset = header.length;
  for (const piece of pieces) {
    if (piece.fragment.independent) {
      const moofInfo = parseMoof(piece.moof);
      const track = moofInfo.tracks.find((t) => t.trackId === firstTrack);
      entries.push({ timeTicks: track?.baseDecodeTimeTicks ?? 0, moofOffset: offset });
    }
    offset += piece.fragment.size;
  }
  const mfra = encodeMfra([{ trackId: firstTrack, entries }]);
  return {
    size: offset + mfra.length,
    durationMs,
    async *chunks(): AsyncGenerator<Buffer> {
      yield header;
      let handle: FileHandle | null = null;
      let openPath = '';
      try {
        for (const piece of pieces) {
          if (piece.path !== openPath) {
            await handle?.close();
            handle = await open(piece.path, 'r');
            openPath = piece.path;
          }
          yield piece.moof;
          const { offset: at, size, moofSize } = piece.fragment;
          yield await readAt(handle as FileHandle, at + moofSize, size - moofSize);
        }
      } finally {
        await handle?.close();
      }
      yield mfra;
    },
  };
}

/** Exactly `length` bytes at `position`, or an error (a file cut short under us). */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`file ends before byte ${position + length}`);
    done += bytesRead;
  }
  return buffer;
}
