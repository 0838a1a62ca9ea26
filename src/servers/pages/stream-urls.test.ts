// Tests of originOf() and streamUrlsOf(): the URLs shown for a stream, from a checked Host header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { originOf, streamUrlsOf } from './stream-urls.ts';

test('originOf() keeps a plain host[:port] and the https of X-Forwarded-Proto', () => {
  assert.deepEqual(originOf('example.com:8080', undefined), {
    host: 'example.com:8080',
    scheme: 'http',
  });
  assert.deepEqual(originOf('[::1]:8080', 'https'), { host: '[::1]:8080', scheme: 'https' });
  assert.deepEqual(originOf('10.0.0.5', 'gopher'), { host: '10.0.0.5', scheme: 'http' });
});

test('originOf() turns a missing or made-up Host into localhost', () => {
  for (const host of [undefined, '', 'a b', 'x"><b>', 'host:port', 'a/b', '[::1', 'é.com']) {
    assert.equal(originOf(host, undefined).host, 'localhost', String(host));
  }
});

test('streamUrlsOf() gives the watch, LL-HLS, HTTP-FLV and RTMP URLs of a path', () => {
  const urls = streamUrlsOf('live/cam1', { host: 'tv.example:8080', scheme: 'http' });
  assert.deepEqual(urls, {
    watchPath: '/watch/live/cam1',
    hlsPath: '/live/cam1.m3u8',
    flvPath: '/live/cam1.flv',
    watch: 'http://tv.example:8080/watch/live/cam1',
    hls: 'http://tv.example:8080/live/cam1.m3u8',
    flv: 'http://tv.example:8080/live/cam1.flv',
    rtmp: 'rtmp://tv.example/live/cam1',
    rtmpServer: 'rtmp://tv.example/live',
    rtmpKey: 'cam1',
    srt: null,
    srtPublish: null,
  });
});

test('streamUrlsOf() puts a non-default RTMP port on the host without the HTTP port', () => {
  const urls = streamUrlsOf('app/sub/name', { host: '[::1]:8080', scheme: 'https' }, 19350);
  assert.equal(urls.rtmp, 'rtmp://[::1]:19350/app/sub/name');
  assert.equal(urls.rtmpServer, 'rtmp://[::1]:19350/app/sub');
  assert.equal(urls.rtmpKey, 'name');
  assert.equal(urls.hls, 'https://[::1]:8080/app/sub/name.m3u8');
});

test('streamUrlsOf() with an SRT port gives the read: and publish: URLs on the host without the HTTP port', () => {
  const urls = streamUrlsOf('live/cam1', { host: 'tv.example:8080', scheme: 'http' }, 1935, 8890);
  assert.equal(urls.srt, 'srt://tv.example:8890?streamid=read:live/cam1');
  assert.equal(urls.srtPublish, 'srt://tv.example:8890?streamid=publish:live/cam1');
});
