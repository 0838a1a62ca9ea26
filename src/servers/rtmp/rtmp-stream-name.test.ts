import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appFromConnect, resolveStreamName } from './rtmp-stream-name.ts';

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
