// A publisher that drops and comes back within the grace period: viewers stay connected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.ts';
import { publishTestPattern, run, waitFor } from '../support/media-tools.ts';
import { watchHttpFlv } from '../support/flv-reader.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';

test('an HTTP-FLV viewer stays connected across a republish and gets the new frames', async () => {
  const server = await startServer({ hub: { reconnectGraceMs: 8000 } });
  const url = server.rtmpUrl('live/again');
  let first = publishTestPattern(url, { size: '320x240' });
  const viewer = watchHttpFlv(server.httpUrl('live/again.flv'));
  try {
    const videoTags = (): number => viewer.tags.filter((t) => t.type === FlvTagType.Video).length;
    await waitFor(() => videoTags() > 25, 15_000, 'frames from the first publisher');
    await first.stop();
    await waitFor(
      () => server.onair.hub.get('live/again')?.state === 'grace',
      5000,
      'the grace period',
    );
    const beforeRepublish = viewer.tags.length;
    const lastDts = viewer.tags.at(-1)?.timestamp ?? 0;

    first = publishTestPattern(url, { size: '320x240' });
    await waitFor(
      () => viewer.tags.length > beforeRepublish + 50,
      15_000,
      'frames from the second publisher',
    );
    assert.equal(viewer.ended(), false, 'the viewer is still connected');
    const newTags = viewer.tags.slice(beforeRepublish);
    // The new publisher's sequence header is resent, and its timeline continues the old one.
    assert.ok(
      newTags.some((t) => t.type === FlvTagType.Video && t.body[1] === 0),
      'new AVC sequence header',
    );
    assert.ok(
      newTags.every((t) => t.timestamp >= lastDts),
      'timestamps continue, never back to 0',
    );
  } finally {
    viewer.close();
    await first.stop();
    await server.stop();
  }
});

test('viewers get a clean end when the publisher does not come back', async () => {
  const server = await startServer({ hub: { reconnectGraceMs: 300 } });
  const publisher = publishTestPattern(server.rtmpUrl('live/gone'), { size: '160x120' });
  const viewer = watchHttpFlv(server.httpUrl('live/gone.flv'));
  try {
    await waitFor(() => viewer.tags.length > 10, 15_000, 'first frames');
    const reader = run(
      'ffmpeg',
      ['-v', 'error', '-i', server.rtmpUrl('live/gone'), '-f', 'null', '-'],
      { timeoutMs: 20_000 },
    );
    await waitFor(
      () => (server.onair.hub.get('live/gone')?.subscriberCount ?? 0) >= 2,
      10_000,
      'the RTMP reader',
    );
    await publisher.stop();
    await waitFor(viewer.ended, 10_000, 'the HTTP-FLV response to end');
    const result = await reader;
    assert.equal(result.code, 0, `the RTMP reader ends cleanly: ${result.stderr}`);
    assert.equal(server.onair.hub.get('live/gone'), undefined);
  } finally {
    viewer.close();
    await publisher.stop();
    await server.stop();
  }
});
