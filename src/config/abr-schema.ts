// The `abr` section of the configuration schema, and the rendition list `streams.<path>.abr`
// also takes: an adaptive bitrate ladder made by one supervised ffmpeg per stream.
import { z } from 'zod';
import { MINUTE_MS, SECOND_MS, bool, int, section, str } from './schema-leaves.ts';

/** Most renditions a ladder has. */
export const MAX_RENDITIONS = 6;

/** A rendition name: letters, digits and `_`, 1-16 characters (`480p`), part of a stream path. */
const RENDITION_NAME = /^[A-Za-z0-9_]{1,16}$/;

/** One rung of the ladder. */
export const renditionSchema = z.strictObject({
  name: z.string().regex(RENDITION_NAME, {
    error: 'must be 1-16 letters, digits or _ (such as 480p)',
  }),
  height: z
    .int()
    .min(90)
    .max(2160)
    .refine((height) => height % 2 === 0, { error: 'must be even' }),
  videoKbps: z.int().min(100).max(20_000),
  fps: z.number().min(1).max(120).optional(),
});

/** A ladder: at most MAX_RENDITIONS renditions, names unique. */
export function renditionList() {
  return z
    .array(renditionSchema)
    .max(MAX_RENDITIONS)
    .refine((list) => new Set(list.map((rendition) => rendition.name)).size === list.length, {
      error: 'rendition names must be unique',
    });
}

export const abrSchema = section(
  {
    renditions: renditionList()
      .default([])
      .describe(
        'Renditions of every stream ({ name, height, videoKbps, fps? }), published as APP/NAME_<name>; none at or above the source height. File only. streams.<path>.abr.renditions overrides it.',
      ),
    onDemand: bool(
      false,
      'Make a stream’s renditions only while someone watches one of them or its multivariant HLS playlist (the first viewer waits for ffmpeg to start); off: from the moment the stream is published.',
    ),
    onDemandIdleMs: int({
      min: 0,
      max: 10 * MINUTE_MS,
      default: 10 * SECOND_MS,
      description:
        'With abr.onDemand, ffmpeg stops this long after the last viewer of the renditions leaves.',
    }),
    ffmpegPath: str('ffmpeg', 'The ffmpeg that makes the renditions (one process per stream).'),
  },
  'Adaptive bitrate: renditions of a stream made by one supervised ffmpeg and published back as ordinary streams.',
);
