// Tests of stream key masking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskPushUrl, maskSecret, maskSecretsIn } from './push-url.ts';

void test('maskSecret() keeps at most the last 4 characters', () => {
  assert.equal(maskSecret('abcd-efgh-ijkl'), '****ijkl');
  assert.equal(maskSecret('abcde'), '****bcde');
  assert.equal(maskSecret('abcd'), '****');
  assert.equal(maskSecret('a'), '****');
  assert.equal(maskSecret(''), '');
});

void test('maskPushUrl() masks the stream key, query values and passwords', () => {
  assert.equal(
    maskPushUrl('rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop'),
    'rtmp://a.rtmp.youtube.com/live2/****mnop',
  );
  assert.equal(
    maskPushUrl('rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890?s_bl=1&s_sc=987654321'),
    'rtmps://live-api-s.facebook.com:443/rtmp/****7890?s_bl=****&s_sc=****4321',
  );
  assert.equal(
    maskPushUrl('rtmp://user:hunter2secret@host:1936/app/inst/streamkey'),
    'rtmp://user:****@host:1936/app/inst/****mkey',
  );
  assert.equal(maskPushUrl('rtmp://127.0.0.1:1935/live/copy'), 'rtmp://127.0.0.1:1935/live/****');
  assert.equal(maskPushUrl('not a url sk_live_123456'), '****');
});

void test('a masked URL never contains the key', () => {
  const key = 'live_123456789_AbCdEfGhIjKlMnOpQrStUvWxYz';
  for (const url of [
    `rtmp://live.twitch.tv/app/${key}`,
    `rtmp://host/app/name?key=${key}`,
    `rtmps://host/app/${encodeURIComponent(key)}?a=${key}&b=${key}`,
  ]) {
    const masked = maskPushUrl(url);
    assert.ok(!masked.includes(key.slice(0, -4)), masked);
  }
});

void test('maskSecretsIn() masks the key where an error message repeats it', () => {
  const url = 'rtmp://host/live2/abcd-efgh-ijkl?token=t0k3n-value';
  assert.equal(
    maskSecretsIn('NetStream.Publish.BadName: abcd-efgh-ijkl?token=t0k3n-value refused', url),
    'NetStream.Publish.BadName: ****ijkl?****alue refused',
  );
  assert.equal(maskSecretsIn('key abcd-efgh-ijkl unknown', url), 'key ****ijkl unknown');
  assert.equal(
    maskSecretsIn('connect ECONNREFUSED 127.0.0.1:1', url),
    'connect ECONNREFUSED 127.0.0.1:1',
  );
});
