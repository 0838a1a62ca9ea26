// A pixel clock for glass-to-glass latency: each 640x360 gray frame carries Date.now() (mod 2^40)
// as 40 black/white blocks of 80x60 px plus an 8-bit checksum (8 x 6 blocks), written to ffmpeg
// as rawvideo in real time; the page side (PAGE_DECODER) reads the blocks back from a canvas on
// each requestVideoFrameCallback, drops misreads (checksum), and records display time - encoded time.
import { spawn, type ChildProcess } from 'node:child_process';

export const WIDTH = 640;
export const HEIGHT = 360;
const COLS = 8;
const ROWS = 6;
const DATA_BITS = 40;

/** The 8-bit checksum of a 40-bit value: its 5 bytes summed, xor 0x5a. */
export function checksum(value: number): number {
  let sum = 0;
  for (let i = 0; i < 5; i++) sum += Math.floor(value / 2 ** (8 * i)) % 256;
  return (sum % 256) ^ 0x5a;
}

/** The 48 bits of a frame: the value's 40 bits (most significant first), then the checksum. */
export function frameBits(timeMs: number): number[] {
  const value = timeMs % 2 ** DATA_BITS;
  const bits: number[] = [];
  for (let i = DATA_BITS - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) % 2);
  const check = checksum(value);
  for (let i = 7; i >= 0; i--) bits.push((check >> i) & 1);
  return bits;
}

/** One gray frame (WIDTH x HEIGHT bytes) showing `timeMs`. */
export function drawFrame(timeMs: number, into: Buffer): Buffer {
  const bits = frameBits(timeMs);
  const cellW = WIDTH / COLS;
  const cellH = HEIGHT / ROWS;
  for (let y = 0; y < HEIGHT; y++) {
    const row = Math.floor(y / cellH);
    for (let c = 0; c < COLS; c++) {
      into.fill(
        bits[row * COLS + c] ? 235 : 16,
        y * WIDTH + c * cellW,
        y * WIDTH + (c + 1) * cellW,
      );
    }
  }
  return into;
}

/**
 * Publishes the clock to `rtmpUrl` for `durationS` seconds: frames made at 30 fps in this
 * process, encoded by ffmpeg (x264 zerolatency, baseline, GOP 1 s, no B-frames, 2 Mbit/s).
 */
export function publishPixelClock(
  rtmpUrl: string,
  durationS: number,
  cpu: number,
): { readonly ffmpeg: ChildProcess; stop(): void } {
  const ffmpeg = spawn(
    'taskset',
    [
      ...['-c', String(cpu), 'ffmpeg', '-hide_banner', '-loglevel', 'error'],
      ...['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${WIDTH}x${HEIGHT}`, '-framerate', '30'],
      ...['-i', 'pipe:0', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency'],
      ...['-profile:v', 'baseline', '-bf', '0', '-g', '30', '-pix_fmt', 'yuv420p'],
      ...['-b:v', '2000k', '-maxrate', '2000k', '-bufsize', '1000k', '-f', 'flv', rtmpUrl],
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  const frame = Buffer.alloc(WIDTH * HEIGHT);
  const start = performance.now();
  let n = 0;
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    const elapsed = performance.now() - start;
    if (elapsed > durationS * 1000 || ffmpeg.stdin.destroyed) {
      ffmpeg.stdin.end();
      return;
    }
    // At most one frame per tick: a late tick does not send a burst of old clocks.
    if (elapsed >= (n * 1000) / 30) {
      ffmpeg.stdin.write(drawFrame(Date.now(), frame));
      n = Math.floor(elapsed / (1000 / 30)) + 1;
    }
    timer = setTimeout(tick, Math.max(1, (n * 1000) / 30 - (performance.now() - start)));
  };
  ffmpeg.stdin.on('error', () => undefined);
  tick();
  return {
    ffmpeg,
    stop: () => {
      if (timer !== null) clearTimeout(timer);
      ffmpeg.stdin.end();
      ffmpeg.kill('SIGTERM');
    },
  };
}

/**
 * Runs in the page: watches `video` (the first <video> when omitted: the watch page's), and on each
 * requestVideoFrameCallback decodes the clock. window.pixelClock = { latencies, misreads, frames }.
 */
export const PAGE_DECODER = `(() => {
  const state = { latencies: [], misreads: 0, frames: 0, clockSkewMs: Date.now() - (performance.timeOrigin + performance.now()) };
  window.pixelClock = state;
  const canvas = document.createElement('canvas');
  canvas.width = ${COLS * 8};
  canvas.height = ${ROWS * 6};
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const watch = () => {
    const video = window.pixelClockVideo || document.querySelector('video');
    if (!video || !video.requestVideoFrameCallback) { setTimeout(watch, 100); return; }
    const onFrame = (now, metadata) => {
      const shownAt = performance.timeOrigin + metadata.expectedDisplayTime;
      state.frames++;
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const bits = [];
      for (let r = 0; r < ${ROWS}; r++) for (let c = 0; c < ${COLS}; c++) {
        const i = ((r * 6 + 3) * canvas.width + c * 8 + 4) * 4;
        bits.push(pixels[i] > 128 ? 1 : 0);
      }
      let value = 0;
      for (let i = 0; i < ${DATA_BITS}; i++) value = value * 2 + bits[i];
      let check = 0;
      for (let i = ${DATA_BITS}; i < ${DATA_BITS + 8}; i++) check = check * 2 + bits[i];
      let sum = 0;
      for (let i = 0; i < 5; i++) sum += Math.floor(value / 2 ** (8 * i)) % 256;
      if (((sum % 256) ^ 0x5a) !== check) state.misreads++;
      else {
        const base = Math.floor(shownAt / 2 ** ${DATA_BITS}) * 2 ** ${DATA_BITS};
        let encoded = base + value;
        if (encoded > shownAt + 2 ** ${DATA_BITS - 1}) encoded -= 2 ** ${DATA_BITS};
        const latency = shownAt - encoded;
        if (latency > -50 && latency < 60000) state.latencies.push(latency);
        else state.misreads++;
      }
      if (state.frames < 100000) video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  watch();
})()`;
