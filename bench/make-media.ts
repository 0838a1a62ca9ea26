// The benchmark test stream: 1280x720 30 fps testsrc2 with a burnt-in clock, x264 ~2 Mbit/s CBR,
// keyframe every 2 s, AAC 128 kbit/s, 60 s, made with ffmpeg (the same recipe as shared make-media.sh).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Default media length in seconds. */
export const MEDIA_DURATION_S = 60;

const FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
];

/** The ffmpeg arguments that write the test FLV to `out`. */
export function mediaFfmpegArgs(out: string, durationS = MEDIA_DURATION_S): string[] {
  const font = FONTS.find((f) => existsSync(f));
  const clock =
    font === undefined
      ? ''
      : `,drawtext=fontfile=${font}:text='%{pts\\:hms}  frame %{n}':x=40:y=40:fontsize=56:` +
        'fontcolor=white:box=1:boxcolor=black@0.7:boxborderw=12';
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=1280x720:rate=30${clock}`,
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=44100',
    '-t',
    String(durationS),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-profile:v',
    'main',
    '-pix_fmt',
    'yuv420p',
    '-b:v',
    '2000k',
    '-minrate',
    '2000k',
    '-maxrate',
    '2000k',
    '-bufsize',
    '2000k',
    '-x264-params',
    'nal-hrd=cbr:force-cfr=1:scenecut=0',
    '-g',
    '60',
    '-keyint_min',
    '60',
    '-sc_threshold',
    '0',
    '-r',
    '30',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ar',
    '44100',
    '-ac',
    '2',
    '-f',
    'flv',
    out,
  ];
}

/** Makes `path` with ffmpeg unless it already exists; returns its size in bytes. */
export function ensureMedia(path: string, durationS = MEDIA_DURATION_S): number {
  if (existsSync(path)) return statSync(path).size;
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial.flv`;
  process.stderr.write(`making ${path} with ffmpeg (${durationS} s, ~2.1 Mbit/s)...\n`);
  execFileSync('ffmpeg', mediaFfmpegArgs(partial, durationS), { stdio: 'inherit' });
  renameSync(partial, path);
  return statSync(path).size;
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const out = process.argv[2] ?? 'bench/results/media.flv';
  const bytes = ensureMedia(out, Number(process.argv[3] ?? MEDIA_DURATION_S));
  process.stderr.write(`${out}: ${bytes} bytes\n`);
}
