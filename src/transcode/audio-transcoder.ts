// Audio transcoding for one stream, through one supervised ffmpeg (argv array, no shell): the
// input frames go in on its stdin in a container ffmpeg can read live, the output comes back on
// its stdout one packet at a time, and ffmpeg is restarted with backoff when it dies. Neither
// Ogg nor ADTS carries source time, so each output packet is placed by sample count: the n-th
// output sample (after the encoder's delay) is the n-th input sample, and the input frames'
// times say where that sample was. ffmpeg neither drops nor adds samples here (no resampling
// filter), so this is exact up to the resampler's few-sample delay. Two conversions share it:
// AAC -> Opus (ADTS in, Ogg out) for WebRTC viewers, and Opus -> AAC (Ogg in, ADTS out) for
// FLV and RTMP viewers of a WHIP stream. Started on demand by the output that needs it, stopped
// by it.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import {
  AdtsFrameReader,
  adtsFixedHeaderOf,
  parseAudioSpecificConfig,
  toAdts,
} from '../codecs/aac.ts';
import { OggPacketReader, encodeOggPage } from '../codecs/ogg.ts';
import { opusPacketDurationSamples } from '../codecs/opus.ts';
import type { Logger } from '../log/logger.ts';
import type { Frame } from '../media/frame.ts';
import type { AudioTrack } from '../media/track.ts';

const OPUS_CLOCK = 48_000;
/** Samples of one AAC frame at the core rate (SBR doubles both, the duration stays). */
const AAC_FRAME_SAMPLES = 1024;
/** ffmpeg's AAC encoder delay (its initial_padding): ADTS does not say it. */
const AAC_ENCODER_DELAY = 1024;
/** Input waiting in ffmpeg's stdin beyond this is dropped (about 40 s of 96 kbps audio). */
const MAX_STDIN_BYTES = 512 * 1024;
/** Input frames remembered for placing output (about 20 s of audio). */
const MAX_PENDING_FRAMES = 1000;
/** Bytes of ffmpeg's stderr kept for the log line when it exits. */
const STDERR_TAIL_BYTES = 2048;
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A run this long resets the restart backoff. */
const STABLE_RUN_MS = 60_000;
/** ffmpeg flags shared by both conversions: no probing, no buffering, errors only. */
const LIVE_INPUT = ['-hide_banner', '-loglevel', 'error', '-fflags', 'nobuffer'];
const NO_PROBE = ['-probesize', '32', '-analyzeduration', '0'];

/** The Opus track transcoded audio carries (stereo, 48 kHz; the OpusHead ffmpeg wrote). */
export const TRANSCODED_OPUS_TRACK: AudioTrack = {
  kind: 'audio',
  codec: 'opus',
  config: Buffer.alloc(0),
  sampleRate: OPUS_CLOCK,
  channels: 2,
};

/** The AAC track transcoded audio carries: LC, 48 kHz, stereo (AudioSpecificConfig 0x1190). */
export const TRANSCODED_AAC_TRACK: AudioTrack = {
  kind: 'audio',
  codec: 'aac',
  config: Buffer.from([0x11, 0x90]),
  sampleRate: OPUS_CLOCK,
  channels: 2,
  profile: 'LC',
};

/** What a transcoder is built with. */
export interface AudioTranscoderOptions {
  readonly logger: Logger;
  /** Receives each output frame, timed on the source's timeline (the output's sample clock). */
  readonly onFrame: (frame: Frame) => void;
  readonly bitrateKbps?: number;
  /** The ffmpeg to run (PATH lookup of 'ffmpeg' by default). */
  readonly ffmpeg?: string;
}

/** One run's input side: the container bytes ffmpeg reads. */
interface InputEncoder {
  /** Written first on every (re)start (container headers); may be empty. */
  readonly prelude: readonly Buffer[];
  /** One frame as container bytes and its duration in seconds; null to skip it. */
  encode(frame: Frame): { readonly bytes: Buffer; readonly seconds: number } | null;
}

/** One run's output side: packets out of ffmpeg's stdout. */
interface OutputDecoder {
  /** The media packets `chunk` completes (container headers consumed). Throws on garbage. */
  push(chunk: Buffer): Buffer[];
  /** Output samples before the first input sample (encoder delay), known once headers are in. */
  readonly delaySamples: number;
  /** Samples of one output packet at `Conversion.outputTrack`'s rate. */
  samplesOf(packet: Buffer): number;
}

/** What differs between conversions: ffmpeg's arguments and the two containers. */
interface Conversion {
  /** For log lines: 'AAC to Opus'. */
  readonly name: string;
  /** ffmpeg's arguments (stdin to stdout). */
  readonly args: readonly string[];
  readonly outputTrack: AudioTrack;
  readonly outputClock: number;
  /** Input position of the first sample (negative when the decoder drops a pre-skip). */
  readonly inputStartS: number;
  newInput(): InputEncoder;
  newOutput(): OutputDecoder;
}

/** Where an input frame's first sample sits in the input sample count, and its time. */
interface Placed {
  /** Input position in seconds (sum of the durations of the frames before it). */
  readonly positionS: number;
  /** Its presentation time in seconds on the source timeline. */
  readonly ptsS: number;
}

type Ffmpeg = ChildProcessByStdio<Writable, Readable, Readable>;

/** See the file comment: the supervision, queues and timing both conversions share. */
export class AudioTranscoder {
  readonly #options: AudioTranscoderOptions;
  readonly #conversion: Conversion;
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
  #input: InputEncoder;
  #output: OutputDecoder;
  #outputSamples = 0;

  protected constructor(conversion: Conversion, options: AudioTranscoderOptions) {
    this.#conversion = conversion;
    this.#options = options;
    this.#input = conversion.newInput();
    this.#output = conversion.newOutput();
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

  /** Output frames produced. */
  get framesOut(): number {
    return this.#framesOut;
  }

  /** The track the output frames carry. */
  get outputTrack(): AudioTrack {
    return this.#conversion.outputTrack;
  }

  /** One audio frame of the input track (sequence headers and other kinds are ignored). */
  write(frame: Frame): void {
    if (frame.kind !== 'audio' || frame.sequenceHeader || frame.payload.length === 0) return;
    const child = this.#child;
    if (child === null || child.stdin.writableLength > MAX_STDIN_BYTES) {
      this.#dropped++;
      return;
    }
    const encoded = this.#input.encode(frame);
    if (encoded === null) return;
    if (this.#placed.length >= MAX_PENDING_FRAMES) this.#placed.shift();
    this.#placed.push({ positionS: this.#inputPositionS, ptsS: frame.pts / frame.timescale });
    this.#inputPositionS += encoded.seconds;
    child.stdin.write(encoded.bytes);
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
    const { name } = this.#conversion;
    const child = spawn(this.#options.ffmpeg ?? 'ffmpeg', this.#conversion.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#startedAt = Date.now();
    this.#inputPositionS = this.#conversion.inputStartS;
    this.#placed = [];
    this.#input = this.#conversion.newInput();
    this.#output = this.#conversion.newOutput();
    this.#outputSamples = 0;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_TAIL_BYTES);
    });
    child.stdin.on('error', () => undefined); // EPIPE when it dies: 'exit' says why
    for (const bytes of this.#input.prelude) child.stdin.write(bytes);
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.#child !== child) return;
      try {
        for (const packet of this.#output.push(chunk)) this.#onPacket(packet);
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'transcoder output unreadable; restarting it');
        child.kill('SIGKILL');
      }
    });
    child.on('error', (error) => {
      this.#options.logger.warn({ err: error }, `ffmpeg (${name}) could not run`);
    });
    child.on('close', (code, signal) => {
      if (this.#child !== child) return;
      this.#child = null;
      if (this.#closed) return;
      this.#options.logger.warn(
        { code, signal, stderr: stderr.trim() },
        `ffmpeg (${name}) exited; restarting it`,
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
    const { outputClock, outputTrack } = this.#conversion;
    const positionS = (this.#outputSamples - this.#output.delaySamples) / outputClock;
    this.#outputSamples += this.#output.samplesOf(data);
    const ptsS = this.#ptsAt(positionS);
    if (ptsS === null) return;
    const pts = Math.round(ptsS * outputClock);
    this.#framesOut++;
    this.#options.onFrame({
      kind: 'audio',
      track: outputTrack,
      timescale: outputClock,
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

/** Opus in Ogg from ffmpeg: OpusHead (its pre-skip is the encoder delay), OpusTags, packets. */
function oggOpusOutput(): OutputDecoder {
  const reader = new OggPacketReader();
  let headers = 0;
  let preSkip = 0;
  return {
    push(chunk) {
      const packets: Buffer[] = [];
      for (const { data } of reader.push(chunk)) {
        if (headers < 2) {
          if (headers === 0 && data.length >= 12) preSkip = data.readUInt16LE(10);
          headers++;
        } else packets.push(data);
      }
      return packets;
    },
    get delaySamples() {
      return preSkip;
    },
    samplesOf: (packet) => opusPacketDurationSamples(packet) || 960,
  };
}

/** AAC in ADTS from ffmpeg's encoder: 1024 samples a frame, its priming delay first. */
function adtsAacOutput(): OutputDecoder {
  const reader = new AdtsFrameReader();
  return {
    push: (chunk) => reader.push(chunk),
    delaySamples: AAC_ENCODER_DELAY,
    samplesOf: () => AAC_FRAME_SAMPLES,
  };
}

/** AAC to Opus (WebRTC viewers of an RTMP stream). */
export class AacToOpusTranscoder extends AudioTranscoder {
  /**
   * A transcoder for `track` (AAC), or throws CodecError when its AudioSpecificConfig cannot be
   * parsed and RangeError when ADTS cannot carry it.
   */
  constructor(track: AudioTrack, options: AudioTranscoderOptions) {
    const adtsFixed = adtsFixedHeaderOf(track.config);
    if (adtsFixed === undefined) throw new RangeError('ADTS cannot carry this AAC configuration');
    const frameS = AAC_FRAME_SAMPLES / parseAudioSpecificConfig(track.config).sampleRate;
    const bitrate = `${options.bitrateKbps ?? 96}k`;
    super(
      {
        name: 'AAC to Opus',
        args: [
          ...LIVE_INPUT,
          ...NO_PROBE,
          ...['-f', 'aac', '-i', 'pipe:0'],
          ...['-vn', '-c:a', 'libopus', '-b:a', bitrate, '-ac', '2', '-ar', '48000'],
          ...['-frame_duration', '20', '-application', 'lowdelay'],
          ...['-f', 'ogg', '-page_duration', '20000', '-flush_packets', '1', 'pipe:1'],
        ],
        outputTrack: TRANSCODED_OPUS_TRACK,
        outputClock: OPUS_CLOCK,
        inputStartS: 0,
        newInput: () => ({
          prelude: [],
          encode(frame) {
            const bytes = toAdts(frame.payload, adtsFixed);
            return bytes.length === 0 ? null : { bytes, seconds: frameS };
          },
        }),
        newOutput: oggOpusOutput,
      },
      options,
    );
  }
}

/** An OpusHead (RFC 7845 5.1): stereo, 48 kHz, no pre-skip, no gain, mapping family 0. */
function defaultOpusHead(): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1;
  head[9] = 2;
  head.writeUInt32LE(OPUS_CLOCK, 12);
  return head;
}

/** OpusTags with the vendor 'onair' and no comments (RFC 7845 5.2). */
const OPUS_TAGS = (() => {
  const vendor = Buffer.from('onair', 'latin1');
  const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  return tags;
})();

/** Opus to AAC (FLV and RTMP viewers of a WHIP stream). */
export class OpusToAacTranscoder extends AudioTranscoder {
  /** A transcoder for `track` (Opus; its config an OpusHead, or empty for WebRTC's defaults). */
  constructor(track: AudioTrack, options: AudioTranscoderOptions) {
    const given = track.config;
    const head =
      given.length >= 19 && given.toString('latin1', 0, 8) === 'OpusHead'
        ? given
        : defaultOpusHead();
    const preSkip = head.readUInt16LE(10);
    const bitrate = `${options.bitrateKbps ?? 128}k`;
    const serial = 0x6f6e6169; // 'onai'
    super(
      {
        name: 'Opus to AAC',
        args: [
          ...LIVE_INPUT,
          ...NO_PROBE,
          ...['-f', 'ogg', '-i', 'pipe:0'],
          ...['-vn', '-c:a', 'aac', '-b:a', bitrate, '-ac', '2', '-ar', '48000'],
          ...['-f', 'adts', '-flush_packets', '1', 'pipe:1'],
        ],
        outputTrack: TRANSCODED_AAC_TRACK,
        outputClock: OPUS_CLOCK,
        // The decoder drops the pre-skip: the first output sample is input sample `preSkip`.
        inputStartS: -preSkip / OPUS_CLOCK,
        newInput: () => {
          let sequence = 2;
          let granule = 0;
          return {
            prelude: [
              encodeOggPage({ serial, sequence: 0, granule: 0, bos: true }, [head]),
              encodeOggPage({ serial, sequence: 1, granule: 0 }, [OPUS_TAGS]),
            ],
            encode(frame) {
              const samples = opusPacketDurationSamples(frame.payload);
              if (samples === 0 || frame.payload.length > 0xfe00) return null;
              granule += samples;
              const bytes = encodeOggPage({ serial, sequence: sequence++, granule }, [
                frame.payload,
              ]);
              return { bytes, seconds: samples / OPUS_CLOCK };
            },
          };
        },
        newOutput: adtsAacOutput,
      },
      options,
    );
  }
}
