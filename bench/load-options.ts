// Command-line options of the load generator (bench/load.ts), validated with their units.
import { parseArgs } from 'node:util';

/** Viewer transports the load generator drives. */
export type ViewerKind = 'rtmp' | 'httpflv' | 'hls';

/** Validated load generator options. */
export interface LoadOptions {
  readonly publish: string;
  /** Viewer URL; `{i}` is replaced by the viewer index. */
  readonly play: string;
  readonly kind: ViewerKind;
  readonly viewers: number;
  readonly slow: number;
  /** Extra viewers on their own thread that measure latency without the main thread's queueing. */
  readonly probes: number;
  readonly rampPerS: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly settleS: number;
  readonly startupTimeoutS: number;
  readonly file: string;
  readonly serverPids: readonly number[];
  readonly json: string | null;
  readonly label: string;
  readonly quiet: boolean;
}

/** Usage text of bench/load.ts. */
export const loadUsage = `usage: tsx bench/load.ts --publish rtmp://127.0.0.1:PORT/live/NAME [options]
  --publish URL          RTMP URL the publisher sends the file to                      [required]
  --play URL             viewer URL ({i} = viewer index); rtmp default: the publish URL;
                         httpflv: http://127.0.0.1:PORT/live/NAME.flv, hls: .../NAME.m3u8
                         (LL-HLS when the playlist has parts and blocking reload)      [httpflv, hls: required]
  --kind K               rtmp | httpflv | hls                                          [rtmp]
  --viewers N            viewers                                                        [10]
  --slow K               extra viewers that stop reading after their first keyframe     [0]
  --probes K             extra latency-probe viewers on a worker thread, 0 = none       [20; hls: 0]
  --ramp R               viewers started per second                                     [200]
  --duration S           seconds from the first viewer to the end                       [30]
  --warmup S             publish-only seconds before the first viewer                   [2]
  --settle S             seconds after the ramp before the steady window                [3]
  --startup-timeout S    no keyframe within S seconds: the viewer failed                [10]
  --file PATH            H.264/AAC FLV, looped in real time           [bench/results/media.flv]
  --server-pid P[,P]     server pid(s), sampled with their descendants from /proc
  --json PATH            write the result there
  --label TEXT           copied into the result
  --quiet                no progress lines`;

function numberIn(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`--${name}: expected a number in [${min}, ${max}], got ${raw}`);
  }
  return value;
}

/** Parses argv (without node and the script); throws an Error with a readable message. */
export function parseLoadOptions(argv: readonly string[]): LoadOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      publish: { type: 'string' },
      play: { type: 'string' },
      kind: { type: 'string', default: 'rtmp' },
      viewers: { type: 'string', default: '10' },
      slow: { type: 'string', default: '0' },
      probes: { type: 'string', default: '20' },
      ramp: { type: 'string', default: '200' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '2' },
      settle: { type: 'string', default: '3' },
      'startup-timeout': { type: 'string', default: '10' },
      file: { type: 'string', default: 'bench/results/media.flv' },
      'server-pid': { type: 'string' },
      json: { type: 'string' },
      label: { type: 'string', default: '' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const kind = values.kind;
  if (kind !== 'rtmp' && kind !== 'httpflv' && kind !== 'hls') {
    throw new Error('--kind must be rtmp, httpflv or hls');
  }
  const publish = values.publish;
  if (publish === undefined) throw new Error('--publish is required');
  const publishUrl = new URL(publish);
  if (publishUrl.protocol !== 'rtmp:') throw new Error('--publish must be an rtmp:// URL');
  const play = values.play ?? (kind === 'rtmp' ? publish : undefined);
  if (play === undefined) throw new Error(`--play is required for --kind ${kind}`);
  for (const url of [publishUrl, new URL(play.replaceAll('{i}', '0'))]) {
    // The bench only ever loads the local machine.
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
      throw new Error(`only loopback servers may be loaded, not ${url.hostname}`);
    }
  }
  return {
    publish,
    play,
    kind,
    viewers: numberIn('viewers', values.viewers, 0, 20_000),
    slow: numberIn('slow', values.slow, 0, kind === 'hls' ? 0 : 1000),
    // Probes are FLV/RTMP viewers; HLS viewers time every part themselves.
    probes: kind === 'hls' ? 0 : numberIn('probes', values.probes, 0, 200),
    rampPerS: numberIn('ramp', values.ramp, 0.1, 100_000),
    durationS: numberIn('duration', values.duration, 1, 3600),
    warmupS: numberIn('warmup', values.warmup, 0, 600),
    settleS: numberIn('settle', values.settle, 0, 600),
    startupTimeoutS: numberIn('startup-timeout', values['startup-timeout'], 0.1, 600),
    file: values.file,
    serverPids: (values['server-pid'] ?? '')
      .split(',')
      .filter((s) => s.trim() !== '')
      .map((s) => numberIn('server-pid', s.trim(), 1, 2 ** 31)),
    json: values.json ?? null,
    label: values.label,
    quiet: values.quiet,
  };
}
