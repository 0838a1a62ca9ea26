// The recording side of the admin API: the catalogue (list, one, delete, download with ranges),
// recording on or off per stream while live, and clips of a span as a standalone MP4.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, badRequest, parse, queryInt } from './api-common.ts';
import { planClip } from '../recording/clip.ts';
import { sendFile } from '../recording/http-range.ts';
import type { RecordingInfo } from '../recording/recording-info.ts';
import type { Recordings, RecordingState } from '../recording/recordings.ts';

interface StreamParams {
  app: string;
  name: string;
}

const listQuerySchema = z.object({
  page: queryInt(0, 1_000_000, 0),
  itemsPerPage: queryInt(1, 1000, 100),
  stream: z.string().max(255).optional(),
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
});

const clipQuerySchema = z.object({
  from: z.string({ error: 'required: an ISO 8601 time' }).max(40),
  to: z.string({ error: 'required: an ISO 8601 time' }).max(40),
});

const enabledBodySchema = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }),
});

const ID = /^[0-9a-f]{16}$/;

/** A recording as the API shows it: times as ISO 8601, with its replay URLs. */
export function recordingJson(info: RecordingInfo): Record<string, unknown> {
  return {
    id: info.id,
    stream: info.stream,
    file: info.file,
    start: new Date(info.startMs).toISOString(),
    end: new Date(info.endMs).toISOString(),
    durationS: Math.round(info.durationMs) / 1000,
    bytes: info.bytes,
    codecs: info.codecs,
    ...(info.width !== undefined ? { width: info.width } : {}),
    ...(info.height !== undefined ? { height: info.height } : {}),
    recording: info.recording,
    urls: {
      file: `/api/v1/recordings/${info.id}/file`,
      hls: `/vod/${info.id}.m3u8`,
      watch: `/watch/vod/${info.id}`,
    },
  };
}

function stateJson(state: RecordingState): Record<string, unknown> {
  return {
    enabled: state.enabled,
    recording: state.recording,
    ...(state.current ? { current: recordingJson(state.current) } : {}),
    ...(state.error ? { error: state.error } : {}),
  };
}

/** Milliseconds of an ISO 8601 time, or a 400 naming `field`. */
function timeOf(text: string, field: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms))
    throw badRequest(field, 'must be an ISO 8601 time (2026-12-02T10:15:00Z)');
  return ms;
}

/** Adds the recording routes to the admin API app. */
export function registerRecordingRoutes(
  app: FastifyInstance,
  recordings: Recordings,
  options: { checkStreamPath: (path: string) => string | null },
): void {
  const { catalogue } = recordings;
  const streamPathOf = (params: StreamParams): string => {
    const path = `${params.app}/${params.name}`;
    const reason = options.checkStreamPath(path);
    if (reason !== null) throw badRequest('stream', `not a valid stream path: ${reason}`);
    return path;
  };
  const recordingOf = (id: string): RecordingInfo => {
    const info = ID.test(id) ? catalogue.get(id) : undefined;
    if (info === undefined) throw new ApiError(404, 'not-found', 'no such recording');
    return info;
  };

  app.get('/api/v1/recordings', (request, reply) => {
    const query = parse(listQuerySchema, request.query, 'query');
    const all = catalogue.list({
      ...(query.stream !== undefined ? { stream: query.stream } : {}),
      ...(query.from !== undefined ? { fromMs: timeOf(query.from, 'from') } : {}),
      ...(query.to !== undefined ? { toMs: timeOf(query.to, 'to') } : {}),
    });
    const { page, itemsPerPage } = query;
    const items = all.slice(page * itemsPerPage, (page + 1) * itemsPerPage).map(recordingJson);
    return reply.send({ items, page, itemsPerPage, total: all.length });
  });

  app.get<{ Params: { id: string } }>('/api/v1/recordings/:id', (request, reply) =>
    reply.send(recordingJson(recordingOf(request.params.id))),
  );

  app.delete<{ Params: { id: string } }>('/api/v1/recordings/:id', async (request, reply) => {
    const info = recordingOf(request.params.id);
    if (catalogue.isLive(info.id)) {
      throw new ApiError(409, 'recording', 'this file is being written: stop the recording first');
    }
    await catalogue.delete(info.id);
    return reply.code(204).send();
  });

  app.get<{ Params: { id: string } }>('/api/v1/recordings/:id/file', (request, reply) => {
    const info = recordingOf(request.params.id);
    reply.hijack();
    sendFile(request.raw, reply.raw, {
      path: catalogue.pathOf(info),
      size: catalogue.readableBytes(info),
      contentType: 'video/mp4',
      headers: {
        'Cache-Control': 'no-store',
        'Content-Disposition': `attachment; filename="${info.file.replaceAll('/', '_')}"`,
      },
    });
  });

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name/recording', (request, reply) =>
    reply.send(stateJson(recordings.state(streamPathOf(request.params)))),
  );

  app.put<{ Params: StreamParams }>(
    '/api/v1/streams/:app/:name/recording',
    async (request, reply) => {
      const path = streamPathOf(request.params);
      const { enabled } = parse(enabledBodySchema, request.body, 'body');
      return reply.send(stateJson(await recordings.setEnabled(path, enabled)));
    },
  );

  app.get<{ Params: StreamParams }>(
    '/api/v1/streams/:app/:name/clip.mp4',
    async (request, reply) => {
      const path = streamPathOf(request.params);
      const query = parse(clipQuerySchema, request.query, 'query');
      const fromMs = timeOf(query.from, 'from');
      const toMs = timeOf(query.to, 'to');
      const plan = await planClip(catalogue, path, fromMs, toMs);
      if ('error' in plan) {
        throw new ApiError(plan.error.startsWith('no recording') ? 404 : 400, 'clip', plan.error);
      }
      const name = `${path.replaceAll('/', '_')}_${new Date(fromMs).toISOString().replace(/[-:]/g, '')}.mp4`;
      return reply
        .type('video/mp4')
        .header('content-length', plan.size)
        .header('content-disposition', `attachment; filename="${name}"`)
        .header('x-clip-duration-s', (plan.durationMs / 1000).toFixed(3))
        .send(Readable.from(plan.chunks(), { objectMode: false }));
    },
  );
}
