// AAC to Opus for one stream, through one supervised ffmpeg: raw AAC frames go in as ADTS on its
// stdin, Opus comes back in Ogg on its stdout, one page per packet. Ogg carries no source time,
// so each Opus packet is placed by sample count: the n-th output sample (after the encoder's
// pre-skip) is the n-th input sample, and the input frames' times say where that sample was.
// ffmpeg neither drops nor adds samples here (no resampling filter), so this is exact up to the
// resampler's few-sample delay. Started on demand by the output that needs it, stopped by it.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { adtsFixedHeaderOf, parseAudioSpecificConfig, toAdts } from '../codecs/aac.ts';
import { OggPacketReader } from '../codecs/ogg.ts';
import { opusPacketDurationSamples } from '../codecs/opus.ts';
import type { Logger } from '../log/logger.ts';
import type { Frame } from '../media/frame.ts';
import type { AudioTrack } from '../media/track.ts';

const OPUS_CLOCK = 48_000;
/** Samples of one AAC frame at the core rate (SBR doubles both, the duration stays). */
const AAC_FRAME_SAMPLES = 1024;
/** Input waiting in ffmpeg's stdin beyond this is dropped (about 40 s of 96 kbps AAC). */
const MAX_STDIN_BYTES = 512 * 1024;
/** Input frames remembered for placing output (about 20 s of AAC). */
const MAX_PENDING_FRAMES = 1000;
/** Bytes of ffmpeg's stderr kept for the log line when it exits. */
const STDERR_TAIL_BYTES = 2048;
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A run this long resets the restart backoff. */
const STABLE_RUN_MS = 60_000;

/** The Opus track transcoded audio carries (stereo, 48 kHz; the OpusHead ffmpeg wrote). */
export const TRANSCODED_OPUS_TRACK: AudioTrack = {
  kind: 'audio',
  codec: 'opus',
  config: Buffer.alloc(0),
  sampleRate: OPUS_CLOCK,
  channels: 2,
};

/** What a transcoder is built with. */
export interface AudioTranscoderOptions {
  readonly logger: Logger;
  /** Receives each Opus frame, timed on the source's timeline (timescale 48000). */
  readonly onFrame: (frame: Frame) => void;
  readonly bitrateKbps?: number;
  /** The ffmpeg to run (PATH lookup of 'ffmpeg' by default). */
  readonly ffmpeg?: string;
}

/** Where an input frame's first sample sits in the input sample count, and its time. */
interface Placed {
  /** Input position in seconds (sum of the durations of the frames before it). */
  readonly positionS: number;
  /** Its presentation time in seconds on the source timeline. */
  readonly ptsS: number;
}

type Ffmpeg = ChildProcessByStdio<Writable, Readable, Readable>;

/** See the file comment. */
export class AacToOpusTranscoder {
  readonly #options: AudioTranscoderOptions;
  readonly #adtsFixed: Buffer;
  readonly #frameS: number;
  #child: Ffmpeg | null = null;
  #closed = false;
  #restartTimer: NodeJS.Timeout | null = null;
  #restartDelayMs = RESTART_MIN_MS;
  #startedAt = 0;
  #restarts = 0;
  #dropped = 0;
  #framesOut = 0;
  // The current run's bookkeeping (reset with each ffmpeg).
  #inputPositionS = 0;
  #placed: Placed[] = [];
  #reader = new OggPacketReader();
  #preSkip = 0;
  #outputSamples = 0;
  #headers = 0;

  /**
   * A transcoder for `track` (AAC), or throws CodecError when its AudioSpecificConfig cannot be
   * parsed and RangeError when ADTS cannot carry it.
   */
  constructor(track: AudioTrack, options: AudioTranscoderOptions) {
    const adtsFixed = adtsFixedHeaderOf(track.config);
    if (adtsFixed === undefined) throw new RangeError('ADTS cannot carry this AAC configuration');
    this.#adtsFixed = adtsFixed;
    this.#frameS = AAC_FRAME_SAMPLES / parseAudioSpecificConfig(track.config).sampleRate;
    this.#options = options;
    this.#start();
  }

  /** ffmpeg restarts after it died. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Input frames dropped because ffmpeg was not running or not keeping up. */
  get droppedFrames(): number {
    return this.#dropped;
  }

  /** The running ffmpeg's process id, or null between restarts and once closed. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Opus frames produced. */
  get framesOut(): number {
    return this.#framesOut;
  }

  /** One raw AAC frame of the track (sequence headers and other kinds are ignored). */
  write(frame: Frame): void {
    if (frame.kind !== 'audio' || frame.sequenceHeader || frame.payload.length === 0) return;
    const child = this.#child;
    if (child === null || child.stdin.writableLength > MAX_STDIN_BYTES) {
      this.#dropped++;
      return;
    }
    const adts = toAdts(frame.payload, this.#adtsFixed);
    if (adts.length === 0) return;
    if (this.#placed.length >= MAX_PENDING_FRAMES) this.#placed.shift();
    this.#placed.push({ positionS: this.#inputPositionS, ptsS: frame.pts / frame.timescale });
    this.#inputPositionS += this.#frameS;
    child.stdin.write(adts);
  }

  /** Stops ffmpeg for good. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    this.#child?.stdin.end();
    this.#child?.kill('SIGKILL');
    this.#child = null;
  }

  #start(): void {
    const bitrate = `${this.#options.bitrateKbps ?? 96}k`;
    const child = spawn(
      this.#options.ffmpeg ?? 'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-fflags', 'nobuffer'],
        ...['-probesize', '32', '-analyzeduration', '0', '-f', 'aac', '-i', 'pipe:0'],
        ...['-vn', '-c:a', 'libopus', '-b:a', bitrate, '-ac', '2', '-ar', '48000'],
        ...['-frame_duration', '20', '-application', 'lowdelay'],
        ...['-f', 'ogg', '-page_duration', '20000', '-flush_packets', '1', 'pipe:1'],
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.#child = child;
    this.#startedAt = Date.now();
    this.#inputPositionS = 0;
    this.#placed = [];
    this.#reader = new OggPacketReader();
    this.#outputSamples = 0;
    this.#headers = 0;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_TAIL_BYTES);
    });
    child.stdin.on('error', () => undefined); // EPIPE when it dies: 'exit' says why
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.#child !== child) return;
      try {
        for (const packet of this.#reader.push(chunk)) this.#onPacket(packet.data);
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'transcoder output unreadable; restarting it');
        child.kill('SIGKILL');
      }
    });
    child.on('error', (error) => {
      this.#options.logger.warn({ err: error }, 'ffmpeg (AAC to Opus) could not run');
    });
    child.on('close', (code, signal) => {
      if (this.#child !== child) return;
      this.#child = null;
      if (this.#closed) return;
      this.#options.logger.warn(
        { code, signal, stderr: stderr.trim() },
        'ffmpeg (AAC to Opus) exited; restarting it',
      );
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    if (Date.now() - this.#startedAt > STABLE_RUN_MS) this.#restartDelayMs = RESTART_MIN_MS;
    const delay = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(RESTART_MAX_MS, delay * 2);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#closed) return;
      this.#restarts++;
      this.#start();
    }, delay);
    this.#restartTimer.unref();
  }

  #onPacket(data: Buffer): void {
    if (this.#headers < 2) {
      // OpusHead (its pre-skip: samples of encoder delay to discard), then OpusTags.
      if (this.#headers === 0 && data.length >= 12) this.#preSkip = data.readUInt16LE(10);
      this.#headers++;
      return;
    }
    const samples = opusPacketDurationSamples(data);
    const positionS = (this.#outputSamples - this.#preSkip) / OPUS_CLOCK;
    this.#outputSamples += samples === 0 ? 960 : samples;
    const ptsS = this.#ptsAt(positionS);
    if (ptsS === null) return;
    const pts = Math.round(ptsS * OPUS_CLOCK);
    this.#framesOut++;
    this.#options.onFrame({
      kind: 'audio',
      track: TRANSCODED_OPUS_TRACK,
      timescale: OPUS_CLOCK,
      dts: pts,
      pts,
      keyframe: false,
      sequenceHeader: false,
      payload: data,
    });
  }

  /** The source time of input position `positionS`, from the frames that were written. */
  #ptsAt(positionS: number): number | null {
    const placed = this.#placed;
    // Drop frames wholly before this position (keep the one it falls in).
    while (placed.length > 1 && (placed[1]?.positionS ?? Infinity) <= positionS) placed.shift();
    const frame = placed[0];
    if (frame === undefined) return null;
    // Before the first frame (the pre-skip's rounding) counts back from it.
    return frame.ptsS + positionS - frame.positionS;
  }
}
