// The pure part of the ABR ladder: which renditions a source gets, which paths are renditions,
// and the ffmpeg command line that makes them (one decode, a split, one x264 encode each).

/** One rung, as configured (abr.renditions, streams.<path>.abr.renditions). */
export interface Rendition {
  readonly name: string;
  readonly height: number;
  readonly videoKbps: number;
  readonly fps?: number | undefined;
}

/** The renditions a source of `sourceHeight` lines gets: those strictly below it, in order. */
export function renditionsBelow(
  renditions: readonly Rendition[],
  sourceHeight: number | undefined,
): Rendition[] {
  if (sourceHeight === undefined) return [];
  return renditions.filter((rendition) => rendition.height < sourceHeight);
}

/** The stream path of rendition `name` of `path`: `live/x` -> `live/x_480p`. */
export function renditionPath(path: string, name: string): string {
  return `${path}_${name}`;
}

/**
 * The source path of a rendition path: `live/x` for `live/x_480p` when `live/x` has a rendition
 * named `480p` (`renditionsOf`), else null.
 */
export function renditionSourceOf(
  path: string,
  renditionsOf: (path: string) => readonly Rendition[],
): string | null {
  const cut = path.lastIndexOf('_');
  if (cut <= path.lastIndexOf('/')) return null;
  const base = path.slice(0, cut);
  const name = path.slice(cut + 1);
  return renditionsOf(base).some((rendition) => rendition.name === name) ? base : null;
}

/** Whether `path` names a rendition (see renditionSourceOf): it never gets a ladder of its own. */
export function isRenditionPath(
  path: string,
  renditionsOf: (path: string) => readonly Rendition[],
): boolean {
  return renditionSourceOf(path, renditionsOf) !== null;
}

/**
 * The ffmpeg arguments: FLV in on stdin, progress on stdout (`-progress pipe:1`), rendition i as
 * FLV on pipe:(3 + i). Timestamps are the source's (`-copyts`) and every rendition has a keyframe
 * where the source has one (`-force_key_frames source`, no scene-cut keyframes), so the HLS
 * segments of the renditions can start where the source's do (media/cut-grid.ts).
 */
export function ladderArgs(renditions: readonly Rendition[]): string[] {
  if (renditions.length === 0) throw new Error('a ladder needs at least one rendition');
  const labels = renditions.map((_, index) => `s${index}`);
  const chains = renditions.map((rendition, index) => {
    const fps = rendition.fps === undefined ? '' : `,${frameSelect(rendition.fps)}`;
    return `[s${index}]scale=-2:${rendition.height}${fps}[v${index}]`;
  });
  const filter = [
    `[0:v]split=${renditions.length}${labels.map((label) => `[${label}]`).join('')}`,
    ...chains,
  ].join(';');
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'warning',
    '-nostats',
    '-progress',
    'pipe:1',
    '-copyts',
    '-f',
    'flv',
    '-i',
    'pipe:0',
    '-filter_complex',
    filter,
  ];
  renditions.forEach((rendition, index) => {
    args.push(...outputArgs(rendition, index));
  });
  return args;
}

/**
 * A lower frame rate that keeps the source's timestamps (the `fps` filter would put frames on its
 * own grid): the first frame of each 1/fps slot, and always a source keyframe, so the frame a
 * keyframe is forced on is the same source frame in every rendition.
 */
export function frameSelect(fps: number): string {
  const slot = (t: string): string => `floor(${t}*${fps})`;
  return `select='isnan(prev_selected_t)+key+gt(${slot('t')},${slot('prev_selected_t')})'`;
}

/** The arguments of output `index`: its video label, x264 at its bitrate, the audio copied. */
export function outputArgs(rendition: Rendition, index: number): string[] {
  const kbps = rendition.videoKbps;
  return [
    '-map',
    `[v${index}]`,
    '-map',
    '0:a?',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-bf',
    '0',
    '-b:v',
    `${kbps}k`,
    '-maxrate',
    `${kbps}k`,
    '-bufsize',
    `${kbps * 2}k`,
    '-force_key_frames',
    'source',
    '-sc_threshold',
    '0',
    // The source's timestamps kept as they are: no constant-frame-rate re-timing, and the
    // encoder's clock in milliseconds (as FLV's) rather than 1/frame rate.
    '-fps_mode',
    'passthrough',
    '-enc_time_base:v',
    '1:1000',
    '-c:a',
    'copy',
    '-f',
    'flv',
    `pipe:${3 + index}`,
  ];
}
