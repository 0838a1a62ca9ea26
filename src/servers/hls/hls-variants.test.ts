import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureVariant, renderMultivariant, renditionReport, variantUri } from './hls-variants.ts';
import { feedVideo, makeSegmenter, testTracks } from '../../../test/support/hls-test-window.ts';

test('variantUri(): relative to the playlist the viewer asked for, the token passed on', () => {
  assert.equal(variantUri('live/x', 'flat', 'source'), 'x.m3u8?variant=source');
  assert.equal(variantUri('live/x_480p', 'flat', null), 'x_480p.m3u8');
  assert.equal(variantUri('live/x_480p', 'index', null, 'token=t'), '../x_480p/index.m3u8?token=t');
  assert.equal(
    variantUri('live/x', 'index', 'source', 'token=t'),
    '../x/index.m3u8?variant=source&token=t',
  );
  assert.equal(variantUri('live/x', 'flat', 'audio', 'token=t'), 'x.m3u8?variant=audio&token=t');
});

test('measureVariant(): bandwidth, codecs, resolution and frame rate measured from the window', () => {
  const { segmenter } = makeSegmenter('low-latency');
  assert.equal(measureVariant(segmenter, 'a.m3u8'), null, 'nothing before a complete segment');
  assert.equal(renderMultivariant([{ window: segmenter, uri: 'a.m3u8' }]), null);
  segmenter.onTracks(testTracks('av'));
  feedVideo(segmenter, { frames: 100, fps: 25, gop: 25, withAudio: true });
  const variant = measureVariant(segmenter, 'a.m3u8');
  assert.ok(variant);
  const bytes = segmenter.segments.reduce((sum, s) => sum + (s.bytes?.length ?? 0), 0);
  const seconds = segmenter.segments.reduce((sum, s) => sum + s.durationS, 0);
  assert.equal(Math.round(variant.averageBandwidth ?? 0), Math.round((bytes * 8) / seconds));
  assert.ok(variant.bandwidth >= (variant.averageBandwidth ?? 0));
  assert.match(variant.codecs, /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
  assert.ok(Math.abs((variant.frameRate ?? 0) - 25) < 0.01, `${variant.frameRate}`);
  const text = renderMultivariant([{ window: segmenter, uri: 'a.m3u8' }]);
  assert.match(text ?? '', /#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1/);
  assert.match(text ?? '', /FRAME-RATE=25\.000\na\.m3u8\n/);
  const report = renditionReport(segmenter, 'a.m3u8');
  const newest = segmenter.current ?? segmenter.segments.at(-1);
  assert.equal(report?.lastMsn, newest?.msn);
  assert.equal(report?.lastPart, (newest?.parts.length ?? 0) - 1);
});

test('renderMultivariant() with audio apart: video-only variants name one audio group and count its bits and codec', () => {
  const video = makeSegmenter('low-latency', { carry: 'video' });
  const audio = makeSegmenter('low-latency', { carry: 'audio' });
  for (const { segmenter } of [video, audio]) {
    segmenter.onTracks(testTracks('av'));
    feedVideo(segmenter, { frames: 100, fps: 25, gop: 25, withAudio: true });
  }
  const alone = measureVariant(video.segmenter, 'x.m3u8?variant=video');
  const sound = measureVariant(audio.segmenter, 'x.m3u8?variant=audio');
  assert.ok(alone && sound);
  assert.match(alone.codecs, /^avc1\.[0-9a-f]{6}$/, 'the video variant carries no audio');
  assert.equal(sound.codecs, 'mp4a.40.2');
  const text =
    renderMultivariant([{ window: video.segmenter, uri: 'x.m3u8?variant=video' }], {
      window: audio.segmenter,
      uri: 'x.m3u8?variant=audio',
    }) ?? '';
  const media = text.split('\n').find((line) => line.startsWith('#EXT-X-MEDIA:'));
  assert.ok(media, text);
  assert.match(media, /TYPE=AUDIO,GROUP-ID="audio",NAME="main",DEFAULT=YES,AUTOSELECT=YES/);
  assert.match(media, /URI="x\.m3u8\?variant=audio"/);
  const inf = text.split('\n').find((line) => line.startsWith('#EXT-X-STREAM-INF:')) ?? '';
  assert.equal(
    Number(/BANDWIDTH=(\d+)/.exec(inf)?.[1]),
    Math.round(alone.bandwidth + sound.bandwidth),
  );
  assert.match(inf, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
  assert.match(inf, /AUDIO="audio"/);
});
