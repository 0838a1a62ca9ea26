// Watches stalled viewers (they stopped reading after their first keyframe) through
// /proc/net/tcp: is the server still holding their socket, and how much does its kernel queue?
import type { SlowViewerFigures } from './load-result.ts';
import { tcpTable } from './proc-sampler.ts';
import type { LoadViewer } from './rtmp-viewer.ts';

interface Track {
  ourState: string;
  serverState: string;
  serverSendQueueBytes: number;
  ourReceiveQueueBytes: number;
  serverClosedAtMs: number | null;
}

/** Polled once a second by the load generator. */
export class SlowViewerWatch {
  readonly #viewers: readonly LoadViewer[];
  readonly #serverPort: number;
  readonly #tracks: Track[];

  constructor(viewers: readonly LoadViewer[], serverPort: number) {
    this.#viewers = viewers;
    this.#serverPort = serverPort;
    this.#tracks = viewers.map(() => ({
      ourState: 'CONNECTING',
      serverState: 'CONNECTING',
      serverSendQueueBytes: 0,
      ourReceiveQueueBytes: 0,
      serverClosedAtMs: null,
    }));
  }

  /** Reads the TCP table; returns the timeline fields (none when there are no stalled viewers). */
  poll(nowMs: number): { slowOpen?: number; slowServerSendQueueKB?: number } {
    if (this.#viewers.length === 0) return {};
    const table = tcpTable();
    this.#viewers.forEach((viewer, k) => {
      const track = this.#tracks[k];
      const port = viewer.localPort;
      if (!track || port === 0) return;
      const ours = table.get(`${port}:${this.#serverPort}`);
      const theirs = table.get(`${this.#serverPort}:${port}`);
      track.ourState = ours?.state ?? 'GONE';
      track.serverState = theirs?.state ?? 'GONE';
      track.ourReceiveQueueBytes = ours?.receiveQueueBytes ?? 0;
      track.serverSendQueueBytes = theirs?.sendQueueBytes ?? 0;
      const paused = viewer.stats.firstKeyframeAtMs > 0;
      // The server side leaves ESTABLISHED when the server closes, even while its FIN waits
      // behind unread data and our side still says ESTABLISHED.
      const open = track.ourState === 'ESTABLISHED' && track.serverState === 'ESTABLISHED';
      if (paused && !open && track.serverClosedAtMs === null) track.serverClosedAtMs = nowMs;
    });
    return {
      slowOpen: this.#tracks.filter(
        (t) => t.ourState === 'ESTABLISHED' && t.serverState === 'ESTABLISHED',
      ).length,
      slowServerSendQueueKB:
        Math.round(this.#tracks.reduce((a, t) => a + t.serverSendQueueBytes, 0) / 102.4) / 10,
    };
  }

  /** Final figures (polls once more). */
  finish(nowMs: number): SlowViewerFigures[] {
    this.poll(nowMs);
    return this.#viewers.map((viewer, k) => {
      const track = this.#tracks[k]!;
      const pausedAtMs = viewer.stats.firstKeyframeAtMs;
      return {
        index: viewer.stats.index,
        gotKeyframe: pausedAtMs > 0,
        ourState: track.ourState,
        serverState: track.serverState,
        serverSendQueueKB: Math.round(track.serverSendQueueBytes / 102.4) / 10,
        ourReceiveQueueKB: Math.round(track.ourReceiveQueueBytes / 102.4) / 10,
        serverClosedAfterS:
          track.serverClosedAtMs === null || pausedAtMs === 0
            ? null
            : Math.round((track.serverClosedAtMs - pausedAtMs) / 100) / 10,
      };
    });
  }
}
