// The messages between the primary process and its workers (`--workers N`), over node:cluster
// IPC. Both sides check what they receive: a message of another shape is ignored.
import type { StreamInfo } from '../api/api-schemas.ts';

/** A worker to the primary. */
export type ToPrimary =
  /**
   * This worker publishes `path`: other workers pull it from `url` (its loopback RTMP) and send
   * its HLS requests to `httpUrl` (its loopback HTTP), so every player sees one playlist.
   */
  | {
      readonly onair: 'register';
      readonly path: string;
      readonly url: string;
      readonly httpUrl: string;
    }
  | { readonly onair: 'unregister'; readonly path: string }
  /** Where is `path` published? Answered by `located` with the same id. */
  | { readonly onair: 'locate'; readonly id: number; readonly path: string }
  /** This worker's streams, every second (the group's stream list is merged from them). */
  | { readonly onair: 'streams'; readonly streams: readonly StreamInfo[] }
  /** The whole group's metrics, answered by `metrics` with the same id. */
  | { readonly onair: 'metrics-request'; readonly id: number }
  /** The access store file changed (a key or a private flag, through the API): reload it. */
  | { readonly onair: 'access-changed' }
  /** This worker's metrics (prom-client's getMetricsAsJSON()), answering `metrics-json-request`. */
  | { readonly onair: 'metrics-json'; readonly id: number; readonly metrics: unknown[] };

/** The primary to a worker. */
export type ToWorker =
  | {
      readonly onair: 'located';
      readonly id: number;
      readonly url: string | null;
      readonly httpUrl: string | null;
    }
  | { readonly onair: 'group'; readonly streams: readonly StreamInfo[] }
  | { readonly onair: 'metrics'; readonly id: number; readonly text: string | null }
  | { readonly onair: 'metrics-json-request'; readonly id: number }
  | { readonly onair: 'access-changed' };

const TO_PRIMARY = new Set([
  'register',
  'unregister',
  'locate',
  'streams',
  'metrics-request',
  'metrics-json',
  'access-changed',
]);

/** Whether `message` is one of ours for the primary (a cheap shape check). */
export function isToPrimary(message: unknown): message is ToPrimary {
  if (typeof message !== 'object' || message === null) return false;
  const kind = (message as { onair?: unknown }).onair;
  return typeof kind === 'string' && TO_PRIMARY.has(kind);
}

const TO_WORKER = new Set([
  'located',
  'group',
  'metrics',
  'metrics-json-request',
  'access-changed',
]);

export function isToWorker(message: unknown): message is ToWorker {
  if (typeof message !== 'object' || message === null) return false;
  const kind = (message as { onair?: unknown }).onair;
  return typeof kind === 'string' && TO_WORKER.has(kind);
}

/**
 * The group's stream list from every worker's: one entry per path, described by the worker
 * that publishes it (else any), viewers summed by protocol without the pulls between workers.
 */
export function mergeStreams(perWorker: readonly (readonly StreamInfo[])[]): StreamInfo[] {
  const byPath = new Map<string, { base: StreamInfo; byProtocol: Record<string, number> }>();
  const dropped = new Map<string, number>();
  for (const streams of perWorker) {
    for (const info of streams) {
      let entry = byPath.get(info.path);
      const owns = info.publisher !== null && info.publisher.protocol !== 'relay';
      if (!entry) {
        entry = { base: info, byProtocol: {} };
        byPath.set(info.path, entry);
      } else if (owns) entry.base = info;
      for (const [protocol, count] of Object.entries(info.viewers.byProtocol)) {
        if (protocol === 'relay') continue;
        entry.byProtocol[protocol] = (entry.byProtocol[protocol] ?? 0) + count;
      }
      dropped.set(info.path, (dropped.get(info.path) ?? 0) + info.droppedFrames);
    }
  }
  const merged = [...byPath.values()].map(({ base, byProtocol }) => ({
    ...base,
    viewers: { total: Object.values(byProtocol).reduce((a, b) => a + b, 0), byProtocol },
    droppedFrames: dropped.get(base.path) ?? 0,
  }));
  return merged.sort((a, b) => a.path.localeCompare(b.path));
}
