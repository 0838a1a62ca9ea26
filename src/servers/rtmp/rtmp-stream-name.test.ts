import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appFromConnect, resolveStreamName } from './rtmp-stream-name.ts';
import { CONNECT_FIELD_CAPS, overLongConnectField } from './rtmp-command-limits.ts';

test('appFromConnect() takes the app from the tcUrl path, without its query', () => {
  assert.equal(appFromConnect('rtmp://host:1935/live', 'live'), 'live');
  assert.equal(appFromConnect('rtmp://host/live?token=1', 'live?token=1'), 'live');
  assert.equal(appFromConnect('rtmp://host/a/b', 'a/b'), 'a/b');
  assert.equal(appFromConnect('rtmp://host/live/', 'live'), 'live');
});

test('appFromConnect() falls back to the app field when the tcUrl has no path', () => {
  assert.equal(appFromConnect('rtmp://host', 'live'), 'live');
  assert.equal(appFromConnect('', 'live?x=1'), 'live');
});

test('resolveStreamName() joins app and name and keeps the query for auth (OBS keys)', () => {
  assert.deepEqual(resolveStreamName('live', 'cam1'), { path: 'live/cam1', query: '' });
  assert.deepEqual(resolveStreamName('live', 'cam1?key=s3cret&x=1'), {
    path: 'live/cam1',
    query: 'key=s3cret&x=1',
  });
  // OBS with server rtmp://h/a/b and an empty key; a query-only key on a two-segment app.
  assert.deepEqual(resolveStreamName('a/b', ''), { path: 'a/b', query: '' });
  assert.deepEqual(resolveStreamName('a/b', '?key=v'), { path: 'a/b', query: 'key=v' });
  assert.deepEqual(
    resolveStreamName('live', 'my%20cam'),
    'only letters, digits, _ - . are allowed',
  );
});

test('resolveStreamName() refuses names outside the allow-list', () => {
  for (const name of ['../../etc/passwd', '%2e%2e', 'a\u0000b', 'a\r\nb', 'x'.repeat(300), '%zz']) {
    assert.equal(typeof resolveStreamName('live', name), 'string', JSON.stringify(name));
  }
  assert.equal(
    typeof resolveStreamName('live', ''),
    'string',
    'an empty name on a one-segment app',
  );
});

test('appFromConnect() trims pathological slashes right (60,000 of them, linear code)', () => {
  const slashes = '/'.repeat(60_000);
  assert.equal(appFromConnect(`rtmp://host/${slashes}live${slashes}`, 'x'), 'live');
  assert.equal(appFromConnect(`rtmp://host/a${slashes}b?x=1`, 'x'), `a${slashes}b`);
  assert.equal(appFromConnect(`rtmp://host/${slashes}`, 'x'), '');
  assert.equal(appFromConnect('rtmp://host', `${slashes}live${slashes}?k=v`), 'live');
  assert.equal(appFromConnect('rtmp://host', slashes), '');
  // Inner slashes are kept, so the path allow-list refuses the empty segments.
  assert.equal(typeof resolveStreamName(`a${slashes}b`, 'cam'), 'string');
});

test('resolveStreamName() answers long names and queries: the path is refused, a long query kept', () => {
  assert.equal(resolveStreamName('live', 'x'.repeat(100_000)), 'longer than 255 characters');
  assert.equal(resolveStreamName('live', '%'.repeat(100_000)), 'bad percent-encoding');
  const query = `key=${'k'.repeat(60_000)}`;
  assert.deepEqual(resolveStreamName('live', `cam?${query}`), { path: 'live/cam', query });
});

test('overLongConnectField() names the first connect string over its cap, and only strings', () => {
  const ok = { app: 'a'.repeat(4096), tcUrl: 'rtmp://h/live', flashVer: 'f'.repeat(256) };
  assert.equal(overLongConnectField(ok), null);
  assert.equal(overLongConnectField({ ...ok, swfUrl: 42, pageUrl: null }), null);
  assert.deepEqual(overLongConnectField({ ...ok, flashVer: 'f'.repeat(257) }), {
    field: 'flashVer',
    cap: CONNECT_FIELD_CAPS.flashVer,
  });
  for (const field of ['tcUrl', 'app', 'swfUrl', 'pageUrl'] as const) {
    const value = `rtmp://h/${'/'.repeat(CONNECT_FIELD_CAPS[field])}`;
    assert.equal(overLongConnectField({ ...ok, [field]: value })?.field, field);
  }
});
