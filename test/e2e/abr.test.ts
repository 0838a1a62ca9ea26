// The ABR ladder end to end: a 720p publish, renditions made by one real ffmpeg, published back
// into the hub, restarted when killed, stopped with the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.ts';
import type { VideoTrack } from '../../src/media/track.ts';
import { probe, publishTestPattern, run, waitFor } from '../support/media-tools.ts';

void test(
  'a 720p publish gets 480p and 240p renditions (no 1080p), restarted when ffmpeg dies',
  { timeout: 60_000 },
  async () => {
    const server = await startServer({
      hub: { reconnectGraceMs: 300 },
      abr: {
        renditions: [
          { name: '1080p', height: 1080, videoKbps: 4000 },
          { name: '480p', height: 480, videoKbps: 800 },
          { name: '240p', height: 240, videoKbps: 300, fps: 15 },
        ],
      },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/x'), { size: '1280x720', gop: 25 });
    try {
      const { hub, abr } = server.onair;
      const videoOf = (path: string): VideoTrack | undefined =>
        hub.get(path)?.tracks.find((track): track is VideoTrack => track.kind === 'video');
      await waitFor(() => videoOf('live/x_480p') !== undefined, 20_000, 'live/x_480p');
      await waitFor(() => videoOf('live/x_240p') !== undefined, 10_000, 'live/x_240p');
      assert.equal(videoOf('live/x_480p')?.codec, 'h264');
      assert.equal(videoOf('live/x_480p')?.height, 480);
      assert.equal(videoOf('live/x_240p')?.height, 240);
      assert.equal(hub.get('live/x_1080p'), undefined, 'no rendition at or above the source');
      const ladder = abr.get('live/x');
      assert.ok(ladder);
      assert.equal(ladder.state, 'running');
      assert.deepEqual(ladder.renditions, ['live/x_480p', 'live/x_240p']);
      assert.equal(abr.get('live/x_480p'), null, 'a rendition gets no ladder');

      // The same through the admin API.
      const answer = await fetch(server.httpUrl('api/v1/streams/live/x/abr'), {
        headers: { Authorization: `Bearer ${server.onair.apiToken.value}` },
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(answer.status, 200);
      const body = (await answer.json()) as { state: string; pid: number; renditions: string[] };
      assert.deepEqual(
        [body.state, body.pid, body.renditions],
        ['running', ladder.pid, ['live/x_480p', 'live/x_240p']],
      );

      // ffmpeg's CPU, read from /proc as its progress reports come.
      await waitFor(() => (abr.get('live/x')?.cpuPercent ?? 0) > 0, 15_000, 'the ladder CPU');
      assert.ok((abr.get('live/x')?.cpuSeconds ?? 0) > 0);
      const streams = await probe(server.httpUrl('live/x_480p.flv'));
      const video = streams.find((s) => s.codec_type === 'video');
      assert.equal(video?.codec_name, 'h264');
      assert.equal(video.height, 480);
      assert.ok(video.width === 854 || video.width === 852, `width ${String(video.width)}`);
      assert.ok(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac'));

      // Keyframes forced on the same source frames in every rendition (240p at 15 fps too).
      const [k480, k240] = await Promise.all([
        keyframeTimes(server.httpUrl('live/x_480p.flv')),
        keyframeTimes(server.httpUrl('live/x_240p.flv')),
      ]);
      const from = Math.max(k480[0] ?? 0, k240[0] ?? 0);
      const to = Math.min(k480.at(-1) ?? 0, k240.at(-1) ?? 0);
      const within = (times: number[]): number[] => times.filter((t) => t >= from && t <= to);
      assert.ok(within(k480).length >= 1, `keyframes ${k480.join()} / ${k240.join()}`);
      assert.deepEqual(within(k480), within(k240));

      // ffmpeg killed: restarted (after 1 s of backoff), the rendition published again.
      const pid = ladder.pid;
      assert.ok(pid !== null);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => abr.get('live/x')?.restarts === 1, 15_000, 'a restart');
      await waitFor(
        () => {
          const info = abr.get('live/x');
          return info?.state === 'running' && info.pid !== pid;
        },
        15_000,
        'a new ffmpeg',
      );
      await waitFor(
        () => hub.get('live/x_480p')?.publisher?.open === true,
        15_000,
        'live/x_480p published again',
      );
      const metrics = await (
        await fetch(server.httpUrl('metrics'), { signal: AbortSignal.timeout(5000) })
      ).text();
      assert.match(metrics, /^onair_abr_restarts_total 1$/m);
      const cpuTotal = /^onair_abr_cpu_seconds_total (\S+)$/m.exec(metrics)?.[1];
      assert.ok(Number(cpuTotal) > 0, `onair_abr_cpu_seconds_total ${cpuTotal}`);
      assert.match(metrics, /^onair_abr_speed_min \d+(\.\d+)?$/m);
      assert.match(metrics, /^onair_abr_ladders 1$/m);
      const newPid = abr.get('live/x')?.pid ?? null;
      assert.ok(newPid !== null);

      // The source unpublished: ffmpeg stops and the renditions end.
      await publisher.stop();
      await waitFor(() => abr.get('live/x') === null, 15_000, 'the ladder to stop');
      await waitFor(
        () => hub.get('live/x_480p') === undefined && hub.get('live/x_240p') === undefined,
        15_000,
        'the renditions to end',
      );
      await waitFor(() => !isAlive(newPid), 10_000, 'ffmpeg to exit');
    } finally {
      await publisher.stop();
      await server.stop();
    }
  },
);

void test(
  'streams.<path>.abr overrides the ladder, private streams have private renditions, stopping onair stops ffmpeg',
  { timeout: 30_000 },
  async () => {
    const server = await startServer({
      abr: { renditions: [{ name: '240p', height: 240, videoKbps: 300 }] },
      streams: {
        'live/none': { abr: { renditions: [] } },
        'live/own': {
          private: true,
          abr: { renditions: [{ name: 'tiny', height: 144, videoKbps: 150 }] },
        },
      },
    });
    const none = publishTestPattern(server.rtmpUrl('live/none'), { size: '640x360' });
    const own = publishTestPattern(server.rtmpUrl('live/own'), { size: '640x360' });
    let stopped = false;
    try {
      const { hub, abr } = server.onair;
      await waitFor(() => hub.get('live/own_tiny')?.publisher?.open === true, 20_000, 'own_tiny');
      await waitFor(() => hub.get('live/none')?.publisher?.open === true, 10_000, 'live/none');
      assert.equal(abr.get('live/none'), null, 'renditions: [] for this stream');
      assert.equal(hub.get('live/own_240p'), undefined, 'the stream entry replaces abr.renditions');
      // A private stream's renditions are private: no token, no picture.
      const refused = await fetch(server.httpUrl('live/own_tiny.flv'), {
        signal: AbortSignal.timeout(5000),
      });
      await refused.body?.cancel();
      assert.equal(refused.status, 401);
      const pid = abr.get('live/own')?.pid ?? null;
      assert.ok(pid !== null);
      await server.stop();
      stopped = true;
      assert.ok(!isAlive(pid), 'ffmpeg ended with onair');
    } finally {
      await Promise.all([none.stop(), own.stop()]);
      if (!stopped) await server.stop();
    }
  },
);

void test(
  'abr.onDemand: ffmpeg runs only while a rendition is watched',
  { timeout: 30_000 },
  async () => {
    const server = await startServer({
      hub: { reconnectGraceMs: 300 },
      abr: {
        onDemand: true,
        onDemandIdleMs: 200,
        renditions: [{ name: '180p', height: 180, videoKbps: 200 }],
      },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/od'), { size: '640x360' });
    try {
      const { hub, abr } = server.onair;
      await waitFor(() => hub.get('live/od')?.tracks.length === 2, 15_000, 'live/od');
      assert.equal(abr.get('live/od'), null, 'no ladder before a viewer');
      // The first viewer of the rendition waits for it (hub.waitForPublisherMs) and gets it.
      const streams = await probe(server.httpUrl('live/od_180p.flv'));
      const video = streams.find((s) => s.codec_type === 'video');
      assert.equal(video?.height, 180);
      assert.equal(abr.get('live/od')?.state, 'running');
      const pid = abr.get('live/od')?.pid ?? null;
      assert.ok(pid !== null);
      // Its viewer gone: ffmpeg stops after abr.onDemandIdleMs, the rendition ends.
      await waitFor(() => abr.get('live/od') === null, 10_000, 'the idle ladder to stop');
      await waitFor(() => hub.get('live/od_180p') === undefined, 10_000, 'the rendition to end');
      await waitFor(() => !isAlive(pid), 10_000, 'ffmpeg to exit');
      assert.ok(hub.get('live/od')?.publisher, 'the source is untouched');
    } finally {
      await publisher.stop();
      await server.stop();
    }
  },
);

void test(
  'abr.onDemand: the multivariant playlist starts the ladder, its first viewer gets the variants, and its variants keep it running',
  { timeout: 60_000 },
  async () => {
    const server = await startServer({
      hls: { idleTimeoutMs: 1000 },
      abr: {
        onDemand: true,
        onDemandIdleMs: 500,
        renditions: [{ name: '180p', height: 180, videoKbps: 200 }],
      },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/odm'), { size: '640x360', gop: 25 });
    try {
      const { hub, abr } = server.onair;
      await waitFor(() => hub.get('live/odm')?.tracks.length === 2, 15_000, 'live/odm');
      assert.equal(abr.get('live/odm'), null, 'no ladder before a viewer');
      // One request: it starts ffmpeg and is answered once the rendition has a segment.
      const answer = await fetch(server.httpUrl('live/odm.m3u8'), {
        signal: AbortSignal.timeout(20_000),
      });
      assert.equal(answer.status, 200);
      const text = await answer.text();
      assert.deepEqual(
        [...text.matchAll(/^([^#\s]\S*)$/gm)].map((m) => m[1]),
        ['odm.m3u8?variant=video', 'odm_180p.m3u8?variant=video'],
        text,
      );
      assert.match(text, /URI="odm\.m3u8\?variant=audio"/);
      const pid = abr.get('live/odm')?.pid ?? null;
      assert.ok(pid !== null);
      // A viewer playing the source's variant only (no rendition subscribed after the HLS idle
      // timeout) keeps the ladder, for three idle periods and more.
      const variant = server.httpUrl('live/odm.m3u8?variant=video');
      const until = Date.now() + 3 * (1000 + 500);
      while (Date.now() < until) {
        const reload = await fetch(variant, { signal: AbortSignal.timeout(10_000) });
        assert.equal(reload.status, 200);
        await reload.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(abr.get('live/odm')?.pid, pid, 'the same ffmpeg still runs');
      // Nobody asks any more: the HLS windows idle out, then the ladder stops.
      await waitFor(() => abr.get('live/odm') === null, 15_000, 'the idle ladder to stop');
      await waitFor(() => !isAlive(pid), 10_000, 'ffmpeg to exit');
    } finally {
      await publisher.stop();
      await server.stop();
    }
  },
);

/** The presentation times (ms) of the video keyframes in the first 4 s read from `url`. */
async function keyframeTimes(url: string): Promise<number[]> {
  const args = ['-v', 'error', '-rw_timeout', '10000000', '-read_intervals', '%+4'];
  args.push('-select_streams', 'v', '-show_entries', 'packet=pts_time,flags', '-of', 'csv', url);
  const result = await run('ffprobe', args, { timeoutMs: 15_000 });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout
    .split('\n')
    .filter((line) => line.endsWith(',K_'))
    .map((line) => Math.round(Number(line.split(',')[1]) * 1000));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
