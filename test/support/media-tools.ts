// Real clients for end-to-end tests: ffmpeg publishing a test pattern, ffprobe and ffmpeg reading.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';

/** An ffmpeg process publishing a live test pattern (H.264 + AAC) over RTMP. */
export interface Publisher {
  readonly process: ChildProcess;
  /** stderr so far, for failure messages. */
  stderr(): string;
  stop(): Promise<void>;
}

/** Options of publishTestPattern(). */
export interface PublishOptions {
  readonly size?: string;
  readonly rate?: number;
  /** Keyframe interval in frames. */
  readonly gop?: number;
  /** Seconds to run; default: until stopped (bounded at 120 s). */
  readonly seconds?: number;
  /** B-frames between references (x264 -bf); default 0. */
  readonly bFrames?: number;
  /** The container sent: FLV for RTMP (the default), MPEG-TS for SRT. */
  readonly format?: 'flv' | 'mpegts';
}

/** Starts `ffmpeg -re` publishing testsrc2 + a sine tone to `url` (RTMP, or SRT with mpegts). */
export function publishTestPattern(url: string, options: PublishOptions = {}): Publisher {
  const { size = '320x240', rate = 25, gop = 25, seconds = 120, bFrames = 0 } = options;
  const format = options.format ?? 'flv';
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=${rate}`,
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=44100',
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-profile:v',
    'high',
    '-g',
    String(gop),
    ...(bFrames > 0 ? ['-bf', String(bFrames), '-x264-params', 'b-pyramid=0'] : []),
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '64k',
    '-f',
    format,
    url,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    process: child,
    stderr: () => stderr,
    stop: () => stopProcess(child),
  };
}

/** Ends a child process (SIGTERM, then SIGKILL after 3 s) and waits for it. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Runs a command to completion (bounded by `timeoutMs`) and returns its output. */
export function run(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: NodeJS.ReadableStream } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.input && child.stdin) {
      options.input.pipe(child.stdin);
      child.stdin.on('error', () => undefined);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A stream as ffprobe sees it. */
export interface ProbedStream {
  readonly codec_type: string;
  readonly codec_name: string;
  readonly width?: number;
  readonly height?: number;
  readonly sample_rate?: string;
  readonly channels?: number;
}

/** The one video stream of a probe: `codec` at `width` x `height`; `where` names the source. */
export function assertVideo(
  streams: readonly ProbedStream[],
  codec: string,
  [width, height]: readonly [number, number],
  where: string,
): void {
  const video = streams.find((s) => s.codec_type === 'video');
  assert.equal(video?.codec_name, codec, `${where}: the video codec`);
  assert.deepEqual([video.width, video.height], [width, height], `${where}: the picture size`);
}

/** ffprobe's view of the streams at `url` (or of stdin with url '-'). */
export async function probe(
  url: string,
  options: { input?: NodeJS.ReadableStream; format?: string } = {},
): Promise<ProbedStream[]> {
  const args = ['-v', 'error'];
  if (url !== '-') args.push('-rw_timeout', '10000000');
  if (options.format) args.push('-f', options.format);
  args.push('-show_entries', 'stream=codec_type,codec_name,width,height,sample_rate,channels');
  args.push('-of', 'json', url);
  const result = await run('ffprobe', args, options.input ? { input: options.input } : {});
  if (result.code !== 0)
    throw new Error(`ffprobe ${url} failed (${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { streams: ProbedStream[] }).streams;
}

/** Polls `check` every 50 ms until it returns (or resolves to) true; throws after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
