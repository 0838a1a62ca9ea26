// Helpers of the access-control end-to-end tests: one-shot publishes, live publishers, HTTP-FLV
// viewers read in the background, and the refusals AccessControl logged.
import type { TestServer } from './server.ts';
import { publishTestPattern, waitFor, type Publisher } from './media-tools.ts';

/** Runs ffmpeg publishing to `url` for up to 10 s; resolves with its exit code and stderr. */
export async function publishOnce(url: string): Promise<{ code: number | null; stderr: string }> {
  const publisher = publishTestPattern(url, { seconds: 10 });
  const code = await new Promise<number | null>((resolve) => {
    publisher.process.once('exit', (exitCode) => {
      resolve(exitCode);
    });
  });
  return { code, stderr: publisher.stderr() };
}

/** Starts a publisher on `path` and waits until its stream has both tracks. */
export async function livePublisher(
  server: TestServer,
  path: string,
  url = server.rtmpUrl(path),
): Promise<Publisher> {
  const publisher = publishTestPattern(url);
  try {
    await waitFor(() => server.onair.hub.get(path)?.tracks.length === 2, 15_000, `${path} live`);
  } catch (error) {
    await publisher.stop();
    throw error;
  }
  return publisher;
}

/** How many publishes or plays AccessControl refused with `reason` (one log line each). */
export function refusals(server: TestServer, reason: string): number {
  return server.logs.filter(
    (entry) => entry.reason === reason && /^(?:publish|play) refused$/.test(String(entry.msg)),
  ).length;
}

/** An HTTP-FLV viewer reading its body in the background. */
export interface FlvViewer {
  readonly status: number;
  /** Body bytes read so far. */
  received(): number;
  /** Settles when the body ends or fails (the server closed it, or close() was called). */
  readonly ended: Promise<'done' | 'error'>;
  /** True once `ended` has settled. */
  isEnded(): boolean;
  close(): Promise<void>;
}

/** GETs `url` (headers within `timeoutMs`) and keeps reading the body until closed. */
export async function openFlv(url: string, timeoutMs = 15_000): Promise<FlvViewer> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
  let received = 0;
  let isEnded = false;
  const ended = (async (): Promise<'done' | 'error'> => {
    if (response.body === null) return 'done';
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'done';
        received += value.length;
      }
    } catch {
      return 'error';
    }
  })().finally(() => {
    isEnded = true;
  });
  return {
    status: response.status,
    received: () => received,
    isEnded: () => isEnded,
    ended,
    close: async () => {
      controller.abort();
      await ended;
    },
  };
}
