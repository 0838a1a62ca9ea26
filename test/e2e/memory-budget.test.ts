// The memory budget (limits.maxMemoryMB): over it, new publishers and viewers are refused with
// `memory-budget` (RTMP, HTTP-FLV, HLS), the refusal and the state are metrics, HLS windows
// shrink, and what already plays keeps playing. The server runs in this process, so the test
// pushes it over its budget by holding memory itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { livePublisher, openFlv, publishOnce, refusals } from '../support/access-helpers.ts';
import { waitFor, type Publisher } from '../support/media-tools.ts';
import { parseExposition } from '../support/prom-text.ts';

const MiB = 1024 * 1024;
let server: TestServer;
let publisher: Publisher;
/** Memory this process holds to push the server (in the same process) over its budget. */
const ballast: Buffer[] = [];

before(async () => {
  const { heapUsed, external } = process.memoryUsage();
  // Room for the publisher and a viewer; the ballast below takes the process well over it.
  const maxMemoryMB = Math.ceil((heapUsed + external) / MiB) + 200;
  server = await startServer({ limits: { maxMemoryMB } });
  publisher = await livePublisher(server, 'live/before');
});

after(async () => {
  ballast.length = 0;
  await publisher.stop();
  await server.stop();
});

async function metric(
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const text = await (await fetch(server.httpUrl('metrics'))).text();
  const family = parseExposition(text).get(name);
  return family?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

describe('over limits.maxMemoryMB', () => {
  test('new publishers and viewers are refused; the viewer already playing keeps receiving', async () => {
    const viewer = await openFlv(server.httpUrl('live/before.flv'));
    const hls = await fetch(server.httpUrl('live/before.m3u8'));
    assert.equal(hls.status, 200, 'HLS of live/before started before the pressure');
    await hls.arrayBuffer();
    try {
      assert.equal(await metric('onair_memory_over_budget'), 0);
      ballast.push(Buffer.alloc(400 * MiB, 1));
      await waitFor(() => server.onair.memory.over, 5000, 'the budget to be exceeded');
      assert.equal(await metric('onair_memory_over_budget'), 1);

      const flv = await fetch(server.httpUrl('live/before.flv'));
      assert.equal(flv.status, 503);
      assert.match(await flv.text(), /memory budget/);
      const published = await publishOnce(server.rtmpUrl('live/after'));
      assert.notEqual(published.code, 0, 'ffmpeg could not publish');
      assert.equal(server.onair.hub.get('live/after')?.publisher ?? null, null);
      assert.ok(refusals(server, 'memory-budget') >= 2, 'both logged as memory-budget');
      assert.ok(
        ((await metric('onair_connections_rejected_total', { reason: 'memory_budget' })) ?? 0) >= 2,
      );
      // A stream with no segmenter yet gets none; the one that has one goes on, leaner.
      const fresh = await fetch(server.httpUrl('live/nobody-yet.m3u8'));
      assert.equal(fresh.status, 503);
      await fresh.arrayBuffer();
      const reload = await fetch(server.httpUrl('live/before.m3u8'));
      assert.equal(reload.status, 200);
      await reload.arrayBuffer();

      const bytes = viewer.received();
      await waitFor(() => viewer.received() > bytes + 50_000, 10_000, 'the old viewer to go on');
      assert.equal(viewer.isEnded(), false);
    } finally {
      await viewer.close();
    }
  });
});
