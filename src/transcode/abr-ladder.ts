// AbrLadders: for each published stream with renditions configured, one supervised ffmpeg fed
// the stream's FLV (as an HTTP-FLV viewer is: the shared 'flv' output, a bounded ViewerQueue) on
// stdin, its renditions read back as FLV from pipes 3.. and published into the hub as ordinary
// streams `APP/NAME_<rendition>`. Restarted with backoff while the source is live.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { encodeFlvHeader, FlvDecoder } from '../codecs/flv.ts';
import type { AbrConfig, HubConfig, StreamsConfig } from '../config/schema.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import type { Publication, Stream } from '../hub/stream.ts';
import { ViewerQueue } from '../hub/viewer-queue.ts';
import type { Logger } from '../log/logger.ts';
import { frameFromMessage, RtmpIngestState } from '../media/rtmp-frames.ts';
import type { Track } from '../media/track.ts';
import { encodeFlvFrame } from '../media/flv-body.ts';
import { CpuMeter } from './process-cpu.ts';
import {
  isRenditionPath,
  ladderArgs,
  renditionSourceOf,
  renditionPath,
  renditionsBelow,
  type Rendition,
} from './abr-args.ts';

/** What a ladder is doing. */
export type LadderState = 'waiting' | 'running' | 'backoff' | 'stopped' | 'no-renditions';

/** One ladder as the API and metrics see it. */
export interface LadderInfo {
  readonly path: string;
  readonly state: LadderState;
  /** Times ffmpeg was started again after it exited while the source was live. */
  readonly restarts: number;
  readonly pid: number | null;
  /** ffmpeg's last reported speed (1 = real time), null before the first report. */
  readonly speed: number | null;
  /** ffmpeg's CPU over the last few seconds, in percent of one core; null before it is known. */
  readonly cpuPercent: number | null;
  /** CPU seconds the running ffmpeg has used (0 when none runs). */
  readonly cpuSeconds: number;
  /** Stream paths of the renditions being made. */
  readonly renditions: readonly string[];
  /** How the last run ended, and the end of its stderr. */
  readonly lastExit: string | null;
}

/** Totals over every ladder, those ended included (for counters that never go down). */
interface LadderCounts {
  restarts: number;
  endedCpuSeconds: number;
}

/** What AbrLadders is built from. */
export interface AbrLaddersOptions {
  readonly config: AbrConfig;
  readonly streams: StreamsConfig;
  readonly hub: StreamHub;
  readonly hubConfig: HubConfig;
  readonly logger: Logger;
}

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A run longer than this resets the backoff. */
const HEALTHY_RUN_MS = 30_000;
/** SIGTERM, then SIGKILL after this. */
const KILL_AFTER_MS = 3000;
/** stderr kept for the log when ffmpeg exits. */
const STDERR_KEEP_BYTES = 4096;
/** A progress line longer than this is not one. */
const PROGRESS_LINE_MAX = 256;
/** Biggest FLV tag accepted from ffmpeg. */
const MAX_TAG_BYTES = 8 * 1024 * 1024;
/** ffmpeg's CPU is read from /proc at most this often. */
const CPU_SAMPLE_MS = 2000;

/** Every ladder of the hub's streams. */
export class AbrLadders {
  readonly #options: AbrLaddersOptions;
  readonly #ladders = new Map<string, Ladder>();
  readonly #unsubscribe: (() => void)[] = [];
  /** Restarts of every ladder since onair started (onair_abr_restarts_total). */
  readonly #counts: LadderCounts = { restarts: 0, endedCpuSeconds: 0 };
  /** With abr.onDemand: the ladders whose renditions nobody watches, stopped when these fire. */
  readonly #idle = new Map<string, NodeJS.Timeout>();
  /** With abr.onDemand: when an HLS viewer last asked for a ladder's playlists (see watch). */
  readonly #watchedMs = new Map<string, number>();

  constructor(options: AbrLaddersOptions) {
    this.#options = options;
  }

  /** The renditions configured for `path` (its streams: entry, else abr.renditions). */
  renditionsOf(path: string): readonly Rendition[] {
    return this.#options.streams[path]?.abr?.renditions ?? this.#options.config.renditions;
  }

  /** The source of rendition path `path` (`live/x` for `live/x_480p`), or null. */
  sourceOf(path: string): string | null {
    return renditionSourceOf(path, (base) => this.renditionsOf(base));
  }

  /** Starts making ladders for streams as they are published (and those live now). */
  start(): void {
    const { events } = this.#options.hub;
    const { onDemand } = this.#options.config;
    this.#unsubscribe.push(
      events.on('published', (event) => {
        if (!onDemand) this.#maybeStart(event.stream, event.publisher.onYield !== undefined);
      }),
      events.on('resumed', (event) => {
        const pulled = event.publisher.onYield !== undefined;
        if (!onDemand || this.#ladders.has(event.stream.path))
          this.#maybeStart(event.stream, pulled);
      }),
      events.on('ended', (event) => {
        this.#stop(event.stream.path);
      }),
    );
    if (onDemand) {
      this.#unsubscribe.push(
        // A viewer waits for a rendition nobody publishes (yet), or joins one in its grace period.
        events.on('opened', (event) => {
          this.#demand(event.stream.path);
        }),
        events.on('subscriber-added', (event) => {
          this.#demand(event.stream.path);
        }),
        events.on('subscriber-removed', (event) => {
          if (event.subscribers === 0) this.#maybeIdle(event.stream.path);
        }),
      );
      return;
    }
    for (const stream of this.#options.hub.list()) {
      if (stream.publisher) this.#maybeStart(stream, stream.publisher.info.onYield !== undefined);
    }
  }

  /** Restarts of every ladder since onair started, those ended included. */
  get restartsTotal(): number {
    return this.#counts.restarts;
  }

  /** CPU seconds of every ladder's ffmpeg since onair started, those ended included. */
  get cpuSecondsTotal(): number {
    let seconds = this.#counts.endedCpuSeconds;
    for (const ladder of this.#ladders.values()) seconds += ladder.info().cpuSeconds;
    return seconds;
  }

  /** Every ladder now. */
  list(): LadderInfo[] {
    return [...this.#ladders.values()].map((ladder) => ladder.info());
  }

  /** The ladder of `path`, or null. */
  get(path: string): LadderInfo | null {
    return this.#ladders.get(path)?.info() ?? null;
  }

  /** Stops every ffmpeg and closes the renditions; resolves when the processes are gone. */
  async close(): Promise<void> {
    for (const stop of this.#unsubscribe.splice(0)) stop();
    for (const timer of this.#idle.values()) clearTimeout(timer);
    this.#idle.clear();
    const ladders = [...this.#ladders.values()];
    this.#ladders.clear();
    await Promise.all(ladders.map((ladder) => ladder.stop()));
  }

  #maybeStart(stream: Stream, pulled: boolean): void {
    // A pulled stream is made where it is published; a rendition never gets a ladder (no loops).
    if (pulled) return;
    const existing = this.#ladders.get(stream.path);
    if (existing) {
      // A new publisher within the grace period: a ladder whose ffmpeg ended meanwhile restarts.
      existing.resume();
      return;
    }
    const renditions = this.renditionsOf(stream.path);
    if (renditions.length === 0) return;
    if (isRenditionPath(stream.path, (path) => this.renditionsOf(path))) return;
    // An encoder's own rendition (multitrack video) is one already.
    if (this.#options.hub.renditions.sourceOf(stream.path) !== null) return;
    const ladder = new Ladder(stream, renditions, this.#options, this.#counts);
    this.#ladders.set(stream.path, ladder);
    ladder.start();
  }

  /**
   * An HLS viewer asked for the multivariant playlist of `path` or for one of its variants. With
   * abr.onDemand, its ladder starts, and runs while such requests come. True while renditions
   * are on their way (the ladder is starting), so the first viewer can wait for them.
   */
  watch(path: string): boolean {
    const stream = this.#options.hub.get(path);
    const publisher = stream?.publisher ?? null;
    if (!stream || !publisher) return false;
    if (this.#options.config.onDemand && this.renditionsOf(path).length > 0) {
      this.#maybeStart(stream, publisher.info.onYield !== undefined);
      if (this.#ladders.has(path)) {
        this.#watchedMs.set(path, Date.now());
        this.#armIdle(path);
      }
    }
    const info = this.#ladders.get(path)?.info();
    if (info === undefined) return false;
    if (info.state === 'waiting') return true;
    return (
      info.state === 'running' &&
      info.renditions.some((rendition) => this.#options.hub.get(rendition)?.publisher == null)
    );
  }

  /** A viewer for `path`: when it is a rendition of a live source, its ladder runs. */
  #demand(path: string): void {
    const source = renditionSourceOf(path, (base) => this.renditionsOf(base));
    if (source === null) return;
    this.#cancelIdle(source);
    const stream = this.#options.hub.get(source);
    const publisher = stream?.publisher ?? null;
    if (stream && publisher) this.#maybeStart(stream, publisher.info.onYield !== undefined);
  }

  /** The last subscriber of rendition `path` left: with none on the others, stop after a while. */
  #maybeIdle(path: string): void {
    const source = renditionSourceOf(path, (base) => this.renditionsOf(base));
    if (source !== null && !this.#watched(source)) this.#armIdle(source);
  }

  /** Whether a rendition of `source` has a subscriber, or an HLS viewer asked lately. */
  #watched(source: string): boolean {
    const sinceMs = Date.now() - (this.#watchedMs.get(source) ?? -Infinity);
    if (sinceMs < this.#options.config.onDemandIdleMs) return true;
    return (this.#ladders.get(source)?.info().renditions ?? []).some(
      (rendition) => (this.#options.hub.get(rendition)?.subscriberCount ?? 0) > 0,
    );
  }

  /** Checks after abr.onDemandIdleMs whether `source`'s ladder is still watched; stops it if not. */
  #armIdle(source: string): void {
    if (!this.#ladders.has(source) || this.#idle.has(source)) return;
    const timer = setTimeout(() => {
      this.#idle.delete(source);
      if (this.#watched(source)) this.#armIdle(source);
      else this.#stop(source);
    }, this.#options.config.onDemandIdleMs);
    timer.unref();
    this.#idle.set(source, timer);
  }

  #cancelIdle(source: string): void {
    const timer = this.#idle.get(source);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#idle.delete(source);
  }

  #stop(path: string): void {
    this.#cancelIdle(path);
    this.#watchedMs.delete(path);
    const ladder = this.#ladders.get(path);
    if (!ladder) return;
    this.#ladders.delete(path);
    void ladder.stop();
  }
}

/** One running ffmpeg and what it publishes. */
interface Run {
  readonly child: ChildProcess;
  readonly queue: ViewerQueue;
  readonly publications: (Publication | null)[];
  readonly startedMs: number;
  /** Its CPU, sampled as its progress reports come. */
  readonly cpu: CpuMeter;
  readonly exited: Promise<void>;
  /** Set on exit: what the pipes still hold is not published. */
  done: boolean;
}

/** The ladder of one source stream. */
class Ladder {
  readonly #stream: Stream;
  readonly #configured: readonly Rendition[];
  readonly #options: AbrLaddersOptions;
  readonly #log: Logger;
  #state: LadderState = 'waiting';
  #restarts = 0;
  #failures = 0;
  #speed: number | null = null;
  #lastExit: string | null = null;
  #renditions: Rendition[] = [];
  #run: Run | null = null;
  /** The input of the current (or coming) run. */
  #queue: ViewerQueue | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  readonly #counts: LadderCounts;

  constructor(
    stream: Stream,
    renditions: readonly Rendition[],
    options: AbrLaddersOptions,
    counts: LadderCounts,
  ) {
    this.#counts = counts;
    this.#stream = stream;
    this.#configured = renditions;
    this.#options = options;
    this.#log = options.logger.child({ component: 'abr', stream: stream.path });
  }

  info(): LadderInfo {
    return {
      path: this.#stream.path,
      state: this.#state,
      restarts: this.#restarts,
      pid: this.#run?.child.pid ?? null,
      speed: this.#speed,
      cpuPercent: this.#run === null ? null : this.#run.cpu.percent,
      cpuSeconds: this.#run?.cpu.seconds ?? 0,
      renditions: this.#renditions.map((rendition) =>
        renditionPath(this.#stream.path, rendition.name),
      ),
      lastExit: this.#lastExit,
    };
  }

  /** Joins the stream's FLV output; ffmpeg starts once its tracks are known. */
  start(): void {
    if (this.#stopped) return;
    this.#state = 'waiting';
    const output = this.#stream.output('flv', encodeFlvFrame);
    let stdin: Writable | null = null;
    const queue = new ViewerQueue(
      {
        write: (bytes) => stdin?.write(bytes) ?? true,
        close: (reason) => {
          // The source ended, or ffmpeg fell too far behind: its input ends and it exits.
          this.#log.debug({ reason }, 'the ladder input closed');
          output.removeViewer(queue);
          if (stdin !== null) {
            stdin.end();
          } else if (this.#state === 'waiting' && this.#queue === queue) {
            // No keyframe came within the wait for publisher: try again while the stream is live.
            this.#retry();
          }
        },
      },
      this.#options.hubConfig.viewer,
    );
    this.#queue = queue;
    output.addViewer(queue, {
      waitMs: this.#options.hubConfig.waitForPublisherMs,
      start: (tracks) => {
        stdin = this.#spawn(tracks, queue);
      },
    });
  }

  /** Spawns ffmpeg for the renditions below the source; returns its stdin (null: none made). */
  #spawn(tracks: readonly Track[], queue: ViewerQueue): Writable | null {
    const video = tracks.find((track) => track.kind === 'video');
    // Classic FLV (what ffmpeg 5 reads) carries H.264 only: HEVC, AV1 or VP9 get no ladder.
    const h264 = video?.codec === 'h264';
    // An encoder sending its own renditions (multitrack video) needs no ffmpeg: its tracks are
    // announced with their sequence headers, before the keyframe this output starts on.
    const fromEncoder = this.#options.hub.renditions.renditionsOf(this.#stream.path).length > 0;
    const renditions = h264 && !fromEncoder ? renditionsBelow(this.#configured, video.height) : [];
    this.#renditions = renditions;
    if (fromEncoder) {
      this.#state = 'no-renditions';
      this.#log.info('the encoder sends its own renditions: no ladder');
      queue.close('kicked');
      return null;
    }
    if (renditions.length === 0) {
      this.#state = 'no-renditions';
      this.#log.info(
        { codec: video?.codec ?? null, height: video?.height ?? null },
        h264 ? 'no rendition is below the source' : 'renditions are made of H.264 sources only',
      );
      queue.close('kicked');
      return null;
    }
    const child = spawn(this.#options.config.ffmpegPath, ladderArgs(renditions), {
      stdio: ['pipe', 'pipe', 'pipe', ...renditions.map(() => 'pipe' as const)],
    });
    const stdin = child.stdin;
    const publications: (Publication | null)[] = renditions.map(() => null);
    let stderr = '';
    const exited = new Promise<void>((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (ended) return;
        ended = true;
        resolve();
        this.#exited(run, code, signal, stderr);
      };
      // 'close': exited and every pipe read to its end. A failed spawn has no pid and no exit.
      child.on('close', end);
      child.on('error', (error) => {
        this.#log.warn({ err: error }, 'ladder ffmpeg failed to run');
        if (child.pid === undefined) end(null, null);
      });
    });
    const run: Run = {
      child,
      queue,
      publications,
      startedMs: Date.now(),
      cpu: new CpuMeter(),
      exited,
      done: false,
    };
    this.#run = run;
    this.#state = 'running';
    this.#log.info(
      { pid: child.pid, renditions: renditions.map((rendition) => rendition.name) },
      'ladder ffmpeg started',
    );
    stdin.on('error', () => undefined); // EPIPE when it dies: 'exit' says why
    stdin.on('drain', () => {
      queue.drain();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_BYTES);
    });
    child.stderr.on('error', () => undefined);
    this.#readProgress(child.stdout, run);
    renditions.forEach((rendition, index) => {
      const pipe = child.stdio[3 + index] as Readable;
      this.#readRendition(pipe, rendition, index, run);
    });
    const hasAudio = tracks.some((track) => track.kind === 'audio');
    stdin.write(encodeFlvHeader({ audio: hasAudio, video: video !== undefined }));
    return stdin;
  }

  /** Reads `speed=` from ffmpeg's `-progress` key=value lines, bounded per line. */
  #readProgress(stdout: Readable, run: Run): void {
    let line = '';
    stdout.on('error', () => undefined);
    stdout.on('data', (chunk: Buffer) => {
      for (const char of chunk.toString('latin1')) {
        if (char !== '\n') {
          if (line.length < PROGRESS_LINE_MAX) line += char;
          continue;
        }
        if (line.startsWith('speed=')) {
          const speed = Number.parseFloat(line.slice('speed='.length));
          if (Number.isFinite(speed)) this.#speed = speed;
          const pid = run.child.pid;
          if (pid !== undefined) run.cpu.sample(pid, Date.now(), CPU_SAMPLE_MS);
        }
        line = '';
      }
    });
  }

  /** Decodes one rendition's FLV and publishes it as `APP/NAME_<name>`. */
  #readRendition(pipe: Readable, rendition: Rendition, index: number, run: Run): void {
    const { publications } = run;
    const path = renditionPath(this.#stream.path, rendition.name);
    const decoder = new FlvDecoder({ maxTagBytes: MAX_TAG_BYTES });
    const state = new RtmpIngestState();
    let failed = false;
    pipe.on('error', () => undefined);
    pipe.on('data', (bytes: Buffer) => {
      if (failed || run.done) return;
      try {
        for (const tag of decoder.push(bytes)) {
          let publication = publications[index] ?? null;
          if (publication === null) {
            publication = this.#options.hub.publish(path, {
              protocol: 'abr',
              remoteAddress: '127.0.0.1',
              // After a restart, still the source's timestamps: no shift onto the last run's.
              sourceTimeline: true,
            });
            publications[index] = publication;
          }
          const frame = frameFromMessage(
            { csid: 0, typeId: tag.type, streamId: 1, timestamp: tag.timestamp, payload: tag.body },
            state,
          );
          if (typeof frame !== 'string') publication.write(frame);
        }
      } catch (error) {
        // A refused path (busy: someone else publishes it) or FLV ffmpeg should never write.
        failed = true;
        this.#log.warn({ err: error, rendition: path }, 'this rendition cannot be published');
      }
    });
  }

  #exited(run: Run, code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    run.done = true;
    this.#counts.endedCpuSeconds += run.cpu.seconds;
    for (const publication of run.publications) publication?.close();
    run.queue.close('kicked'); // and so leaves the output
    if (this.#run === run) this.#run = null;
    this.#lastExit = `${signal === null ? `code ${String(code)}` : signal}: ${stderr.trim()}`;
    if (this.#stopped) return;
    const ranMs = Date.now() - run.startedMs;
    this.#log.warn({ code, signal, ranMs, stderr }, 'ladder ffmpeg exited');
    if (this.#stream.publisher === null) {
      this.#state = 'stopped';
      return;
    }
    if (ranMs > HEALTHY_RUN_MS) this.#failures = 0;
    this.#retry();
  }

  /** Starts again after the backoff (1 s, doubling to 30 s), counted as a restart. */
  #retry(): void {
    if (this.#stopped || this.#stream.publisher === null) {
      this.#state = 'stopped';
      return;
    }
    const delayMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** this.#failures);
    this.#failures++;
    this.#state = 'backoff';
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#restarts++;
      this.#counts.restarts++;
      this.start();
    }, delayMs);
    this.#timer.unref();
  }

  /** Starts again a ladder that stopped because its source had no publisher. */
  resume(): void {
    if (this.#stopped || this.#state !== 'stopped') return;
    this.#restarts++;
    this.#counts.restarts++;
    this.start();
  }

  /** Ends ffmpeg (stdin closed, SIGTERM, SIGKILL after a deadline) and the renditions. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#state = 'stopped';
    if (this.#timer) clearTimeout(this.#timer);
    this.#queue?.close('kicked');
    const run = this.#run;
    if (!run) return;
    run.done = true;
    for (const publication of run.publications) publication?.close();
    if (run.child.exitCode !== null || run.child.signalCode !== null) return;
    const kill = setTimeout(() => run.child.kill('SIGKILL'), KILL_AFTER_MS);
    run.child.kill('SIGTERM');
    await run.exited;
    clearTimeout(kill);
  }
}
