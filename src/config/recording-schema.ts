// The `recording` section of the configuration schema (docs/recording.md).
import { z } from 'zod';
import { GiB, MiB, TiB, bool, int, section } from './schema-leaves.ts';

export const recordingSchema = section(
  {
    enabled: bool(
      false,
      'Record every stream to fragmented MP4 in <dataDir>/recordings/<app>/<name>/ (streams.<path>.record for one stream).',
    ),
    segmentMinutes: z
      .number()
      .min(0.05)
      .max(24 * 60)
      .default(60)
      .describe('A recording is split into files of this many minutes, cut on a keyframe.'),
    maxAgeDays: int({
      min: 0,
      max: 36_500,
      default: 0,
      description: 'Recordings older than this are deleted, oldest first; 0: kept.',
    }),
    maxBytes: int({
      min: 0,
      max: 1024 * TiB,
      default: 0,
      description:
        'Recordings of all streams together are kept under this size, oldest deleted first; 0: no cap.',
    }),
    maxBytesPerStream: int({
      min: 0,
      max: 1024 * TiB,
      default: 0,
      description:
        'Recordings of one stream are kept under this size, oldest deleted first; 0: no cap.',
    }),
    minFreeBytes: int({
      min: 0,
      max: 1024 * TiB,
      default: 512 * MiB,
      description:
        'Recording stops (live delivery goes on) when the disk has less free space than this.',
    }),
    maxQueuedBytes: int({
      min: MiB,
      max: 4 * GiB,
      default: 64 * MiB,
      description:
        'Bytes waiting for a slow disk, all recordings together; beyond, recordings stop with an error.',
    }),
  },
  'Recording live streams to fragmented MP4 files, their catalogue, replay and clips.',
);
