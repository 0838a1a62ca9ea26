// The restream side of the admin API: the pushes of a live stream (docs/restream.md). Stream
// keys never leave: every URL answered is masked.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, badRequest, parse } from './api-common.ts';
import { MAX_PUSH_URL_LENGTH } from '../config/push-schema.ts';
import type { PushInfo } from '../relay/push.ts';
import type { StreamPushes } from '../relay/stream-pushes.ts';

interface StreamParams {
  app: string;
  name: string;
}

const addBodySchema = z.strictObject({
  url: z
    .string({ error: 'must be an rtmp:// or rtmps:// URL' })
    .max(MAX_PUSH_URL_LENGTH, { error: `at most ${String(MAX_PUSH_URL_LENGTH)} characters` }),
});

const PUSH_ID = /^p[0-9]{1,15}$/;

/** A push as the API shows it. */
export function pushJson(info: PushInfo): Record<string, unknown> {
  return {
    id: info.id,
    url: info.url,
    origin: info.origin,
    state: info.state,
    bytesSent: info.bytesSent,
    kbps: info.kbps,
    droppedFrames: info.droppedFrames,
    reconnects: info.reconnects,
    lastError: info.lastError,
    liveSince: info.liveSinceMs === null ? null : new Date(info.liveSinceMs).toISOString(),
  };
}

export function registerPushRoutes(
  app: FastifyInstance,
  pushes: Pick<StreamPushes, 'list' | 'add' | 'remove'>,
  options: { readonly checkStreamPath: (path: string) => string | null },
): void {
  const pathOf = (params: StreamParams): string => {
    const path = `${params.app}/${params.name}`;
    const reason = options.checkStreamPath(path);
    if (reason !== null) throw badRequest('stream', `not a valid stream path: ${reason}`);
    return path;
  };
  const notLive = (): ApiError =>
    new ApiError(404, 'not-found', 'the stream is not published here');

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name/pushes', (request, reply) => {
    const path = pathOf(request.params);
    const list = pushes.list(path);
    if (list === null) throw notLive();
    return reply.send({ stream: path, items: list.map(pushJson) });
  });

  app.post<{ Params: StreamParams }>(
    '/api/v1/streams/:app/:name/pushes',
    async (request, reply) => {
      const path = pathOf(request.params);
      const body = parse(addBodySchema, request.body, 'body');
      const result = pushes.add(path, body.url);
      if (!result.ok) {
        switch (result.code) {
          case 'not-live':
            throw notLive();
          case 'bad-url':
            throw badRequest('url', result.message);
          case 'too-many':
            throw new ApiError(409, 'limit-reached', result.message);
          case 'duplicate':
            throw new ApiError(409, 'duplicate', result.message);
        }
      }
      return reply.code(201).send(pushJson(result.push));
    },
  );

  app.delete<{ Params: StreamParams & { id: string } }>(
    '/api/v1/streams/:app/:name/pushes/:id',
    async (request, reply) => {
      const path = pathOf(request.params);
      const { id } = request.params;
      if (!PUSH_ID.test(id) || !pushes.remove(path, id)) {
        throw new ApiError(404, 'not-found', 'no push with this id on this stream');
      }
      return reply.code(204).send();
    },
  );
}
